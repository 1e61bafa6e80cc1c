using System.Text.Json;
using LoopOrder.Service.Control;
using LoopOrder.Service.Daemon;

namespace LoopOrder.Service.Tests.Daemon;

/// <summary>
/// loop-order snapshot through the CLI, the control socket and a daemon over the fake kernel:
/// every refusal has its exit code and words and leaves nothing behind (no file, the device
/// still serving), and snapshots are kept in the device record. The host's temp directory is on
/// a filesystem without reflink here (ext4, tmpfs), which is the refusal the test checks; the
/// reflink itself is the VM's (tests/vm/e2e/suites/snapshot.sh on btrfs).
/// </summary>
public sealed class SnapshotTests : IDisposable
{
    private readonly DaemonFixture _f = new();

    public void Dispose() => _f.Dispose();

    private string AddFile(string name = "disk.img")
    {
        _f.Start();
        (int code, _, string err) = _f.Run("add", "--file", _f.PathOf(name), "--size", "4M");
        Assert.True(code == 0, err);
        return _f.PathOf(name);
    }

    private string[] Leftovers(string file) => Directory.GetFiles(Path.GetDirectoryName(file)!, Path.GetFileName(file) + ".snap-*");

    [Fact]
    public void A_filesystem_without_reflink_is_refused_with_69_and_nothing_left_behind()
    {
        string file = AddFile();
        if (IsReflinkCapable(file))
        {
            return; // this host's temp directory has reflinks: the refusal cannot happen here
        }

        (int code, string output, string error) = _f.Run("snapshot", "0", "before-upgrade");

        Assert.Equal(ExitCodes.Unavailable, code);
        Assert.Equal("", output);
        Assert.Contains(ServedDevice.NoReflink, error, StringComparison.Ordinal);
        Assert.Empty(Leftovers(file));

        // The held writes were released and the device serves on; nothing was recorded.
        Assert.Equal(0, _f.Run("stats", "0").Code);
        (code, output, _) = _f.Run("snapshot", "list", "0", "--json");
        Assert.Equal(0, code);
        Assert.Equal("[]", output.Trim());
        Assert.Null(new DeviceRecords(Path.Combine(_f.RuntimeDirectory, "devices")).Find(0)!.Snapshots);
    }

    [Fact]
    public void Bad_input_is_refused_with_its_exit_code_and_changes_nothing()
    {
        string file = AddFile();
        string existing = _f.PathOf("taken.img");
        File.WriteAllText(existing, "mine");

        Assert.Equal((ExitCodes.Usage, "loop-order snapshot: no device 7 is served by this daemon; see loop-order list."), Refusal("snapshot", "7", "a"));
        Assert.Equal(ExitCodes.Usage, Refusal("snapshot", "0", "../escape").Code);
        Assert.Contains("is not a snapshot name", Refusal("snapshot", "0", ".hidden").Error, StringComparison.Ordinal);
        Assert.Equal(ExitCodes.Usage, Refusal("snapshot", "0", "list").Code);
        (int code, string error) = Refusal("snapshot", "0", "a", "--to", existing);
        Assert.Equal(ExitCodes.Usage, code);
        Assert.Contains($"{existing} exists", error, StringComparison.Ordinal);
        Assert.Equal("mine", File.ReadAllText(existing));
        Assert.Equal((ExitCodes.NoInput, "loop-order snapshot delete: device 0 has no snapshot named a; see loop-order snapshot list 0."), Refusal("snapshot", "delete", "0", "a"));
        Assert.Equal(ExitCodes.Usage, Refusal("snapshot", "list", "7").Code);
        Assert.Empty(Leftovers(file));
    }

    [Fact]
    public void A_memory_device_is_refused_snapshots_need_the_file_target()
    {
        _f.Start();
        Assert.Equal(0, _f.Run("add", "--target", "memory", "--size", "1M").Code);

        (int code, string error) = Refusal("snapshot", "0", "a");

        Assert.Equal(ExitCodes.Usage, code);
        Assert.Contains("snapshots need the file target", error, StringComparison.Ordinal);
    }

    [Fact]
    public void The_device_record_keeps_its_snapshots_for_a_restarted_daemon()
    {
        var records = new DeviceRecords(Path.Combine(_f.Root, "records"));
        var snapshot = new SnapshotRecord { Name = "nightly", Path = "/srv/vm.img.snap-nightly", Bytes = 4096, Created = DateTimeOffset.UnixEpoch, Barrier = 42, WritesHeldMs = 1.5 };
        records.Save(new DeviceRecord { Id = 3, Options = DaemonFixture.Device("/srv/vm.img", "4M"), Snapshots = [snapshot] });

        SnapshotRecord back = Assert.Single(records.Find(3)!.Snapshots!);

        Assert.Equal(JsonSerializer.Serialize(snapshot, ControlJson.Default.SnapshotRecord), JsonSerializer.Serialize(back, ControlJson.Default.SnapshotRecord));
        Assert.Equal("reflink", back.Kind);
    }

    private (int Code, string Error) Refusal(params string[] args)
    {
        (int code, string output, string error) = _f.Run(args);
        Assert.Equal("", output);
        return (code, error.Trim());
    }

    private static bool IsReflinkCapable(string file)
    {
        string probe = file + ".probe";
        try
        {
            using var src = LoopOrder.Interop.FileDescriptor.Open(file, LoopOrder.Interop.OpenFlags.ReadOnly);
            using var dst = LoopOrder.Interop.FileDescriptor.Open(probe, LoopOrder.Interop.OpenFlags.ReadWrite | LoopOrder.Interop.OpenFlags.Create);
            return LoopOrder.Interop.Reflink.TryClone(dst, src) == LoopOrder.Interop.Errno.None;
        }
        finally
        {
            File.Delete(probe);
        }
    }
}
