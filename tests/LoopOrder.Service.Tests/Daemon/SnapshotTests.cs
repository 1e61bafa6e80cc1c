using System.Text.Json;
using LoopOrder.Service.Control;
using LoopOrder.Service.Daemon;

namespace LoopOrder.Service.Tests.Daemon;

/// <summary>
/// loop-order snapshot through the CLI, the control socket and a daemon over the fake kernel:
/// every refusal has its exit code and words and leaves nothing behind (no file, the device
/// still serving), and snapshots are kept in the device record. The host's temp directory is on
/// a filesystem without reflink here (ext4, tmpfs): --kind reflink is refused, and the default
/// makes a copy-on-write snapshot, which export, a restart and delete are checked on; the
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
    public void A_reflink_asked_of_a_filesystem_without_them_is_refused_with_69_and_nothing_left_behind()
    {
        string file = AddFile();
        if (IsReflinkCapable(file))
        {
            return; // this host's temp directory has reflinks: the refusal cannot happen here
        }

        (int code, string output, string error) = _f.Run("snapshot", "0", "before-upgrade", "--kind", "reflink");

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

    [Fact]
    public void A_copy_on_write_snapshot_exports_as_the_device_was_and_outlives_a_restart_and_a_reboot()
    {
        string file = AddFile();
        byte[] before = Pattern(0x11, 64 * 1024), after = Pattern(0x22, 8192);
        Assert.Equal(before.Length, _f.Factory.Io(0, Queues.Requests.BlockOp.Write, before, 0));

        (int code, string output, string error) = _f.Run("snapshot", "0", "s1", "--kind", "cow", "--json");
        Assert.True(code == 0, error);
        SnapshotRecord s1 = JsonSerializer.Deserialize(output, ControlJson.Default.SnapshotRecord)!;
        Assert.Equal(("cow", 4L << 20, file + ".snap-s1"), (s1.Kind, s1.Bytes, s1.Path));
        Assert.Equal([file + ".snap-s1"], File.ReadAllLines(file + ".cow").Where(l => l.StartsWith('/')));

        // Overwrites after the snapshot: the device changes, the snapshot does not.
        Assert.Equal(after.Length, _f.Factory.Io(0, Queues.Requests.BlockOp.Write, after, 4096));
        Assert.Equal(after.Length, _f.Factory.Io(0, Queues.Requests.BlockOp.Write, after, 3 << 20));
        string image = _f.PathOf("s1.raw");
        (code, output, error) = _f.Run("snapshot", "export", "0", "s1", "--to", image, "--json");
        Assert.True(code == 0, error);
        SnapshotExport e = JsonSerializer.Deserialize(output, ControlJson.Default.SnapshotExport)!;
        Assert.Equal(("cow", 4L << 20, 64L * 1024), (e.Method, e.Bytes, e.DataBytes));
        byte[] expected = new byte[4 << 20];
        before.CopyTo(expected, 0);
        Assert.Equal(expected, File.ReadAllBytes(image));
        Assert.Equal(ExitCodes.Usage, Refusal("snapshot", "export", "0", "s1", "--to", image).Code); // never over a file

        // A daemon restarted after a SIGKILL (the record) and one after a reboot (no record, no
        // kernel device: the index next to the file) keep it.
        KillAndRestart();
        Assert.Equal([0u], _f.Factory.Recovered.ToArray());
        Assert.Contains("\"kind\":\"cow\"", _f.Run("snapshot", "list", "0", "--json").Out, StringComparison.Ordinal);
        _f.Stop();
        _f.Factory.Kernel.Clear();
        _f.Start();
        Assert.Equal(0, _f.Run("add", "--file", file, "--size", "4M").Code);
        uint id = _f.Factory.Created.Keys.Max();
        string n = id.ToString(System.Globalization.CultureInfo.InvariantCulture);
        string listed = _f.Run("snapshot", "list", n, "--json").Out;
        Assert.Contains("\"name\":\"s1\"", listed, StringComparison.Ordinal);
        Assert.Equal(after.Length, _f.Factory.Io(id, Queues.Requests.BlockOp.Write, after, 0)); // the first chunk, overwritten only now
        string again = _f.PathOf("s1-again.raw");
        Assert.Equal(0, _f.Run("snapshot", "export", n, "s1", "--to", again).Code);
        Assert.Equal(expected, File.ReadAllBytes(again));

        (code, _, error) = _f.Run("snapshot", "delete", n, "s1");
        Assert.True(code == 0, error);
        Assert.False(File.Exists(s1.Path));
        Assert.False(File.Exists(file + ".cow"));
        Assert.Equal(ExitCodes.NoInput, Refusal("snapshot", "export", n, "s1", "--to", _f.PathOf("gone.raw")).Code);
    }

    [Fact]
    public void A_copy_on_write_store_that_would_not_fit_is_refused_with_69()
    {
        AddFile();
        (int code, _, string error) = _f.Run("snapshot", "0", "big", "--kind", "cow", "--to", "/dev/shm/loop-order-test-store-" + Guid.NewGuid().ToString("N"));
        if (code == 0)
        {
            return; // /dev/shm has room for 4 MiB here: nothing to refuse
        }

        Assert.Equal(ExitCodes.Unavailable, code);
        Assert.Contains("may grow to", error, StringComparison.Ordinal);
    }

    /// <summary>What SIGKILL leaves: the records and the kernel's device, quiesced; then a new daemon.</summary>
    private void KillAndRestart()
    {
        string records = Path.Combine(_f.RuntimeDirectory, "devices");
        string saved = _f.PathOf("saved-records");
        Directory.CreateDirectory(saved);
        foreach (string r in Directory.EnumerateFiles(records))
        {
            File.Copy(r, Path.Combine(saved, Path.GetFileName(r)));
        }

        _f.Stop();
        foreach (string r in Directory.EnumerateFiles(saved))
        {
            File.Copy(r, Path.Combine(records, Path.GetFileName(r)));
        }

        _f.Factory.Kernel[0] = DeviceState.Quiesced;
        _f.Start();
    }

    private static byte[] Pattern(byte seed, int length)
    {
        byte[] b = new byte[length];
        for (int i = 0; i < length; i++)
        {
            b[i] = (byte)(seed + (i / 4096));
        }

        return b;
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
