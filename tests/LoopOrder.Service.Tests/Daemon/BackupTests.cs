using System.Diagnostics;
using System.Text.Json;
using LoopOrder.Queues.Requests;
using LoopOrder.Service.Control;

namespace LoopOrder.Service.Tests.Daemon;

/// <summary>
/// loop-order backup through the CLI and a daemon over the fake kernel, with qemu's real tools: a
/// full backup and two increments of a tracked device restore, by <c>qemu-img convert</c> of the
/// last image of the chain, to exactly what each snapshot exported; an increment carries only the
/// changed extents; bad input is refused with nothing written.
/// </summary>
public sealed class BackupTests : IDisposable
{
    private readonly DaemonFixture _f = new();

    public void Dispose() => _f.Dispose();

    [Fact]
    public void A_full_backup_and_two_increments_restore_to_each_snapshot_byte_for_byte()
    {
        _f.Start();
        string file = _f.PathOf("disk.img");
        Assert.Equal(0, _f.Run("add", "--file", file, "--size", "4M", "--track-changes").Code);
        var random = new Random(15);
        Write(random, 0, 1 << 20);
        Backup("b0", null, out BackupReport full);
        Assert.Null(full.BackingFile);
        Assert.Equal(4L << 20, full.ChangedBytes);

        Write(random, 64 * 1024, 8192);            // one region
        Write(random, 3L << 20, 128 * 1024);       // two more
        Backup("b1", "b0", out BackupReport one);
        Assert.Equal(full.Path, one.BackingFile);
        Assert.Equal(3 * 64 * 1024, one.ChangedBytes);
        Assert.Equal(2, one.Extents.Count);

        Write(random, 2L << 20, 4096);
        Backup("b2", "b1", out BackupReport two);
        Assert.Equal(64 * 1024, two.ChangedBytes);
        Assert.True(two.ImageBytes < full.ImageBytes, "an increment is about its changes, not the device");

        foreach ((string name, BackupReport report) in new[] { ("b0", full), ("b1", one), ("b2", two) })
        {
            string exported = _f.PathOf(name + ".raw"), restored = _f.PathOf(name + ".restored");
            Assert.Equal(0, _f.Run("snapshot", "export", "0", name, "--to", exported).Code);
            Run("qemu-img", "convert", "-f", "qcow2", "-O", "raw", report.Path, restored);
            Assert.Equal(File.ReadAllBytes(exported), File.ReadAllBytes(restored));
            Assert.Equal(report.Path, JsonSerializer.Deserialize(File.ReadAllText(report.Path + ".json"), ControlJson.Default.BackupReport)!.Path);
        }
    }

    [Fact]
    public void Bad_input_is_refused_and_writes_nothing()
    {
        _f.Start();
        string file = _f.PathOf("disk.img");
        Assert.Equal(0, _f.Run("add", "--file", file, "--size", "4M").Code);
        string to = _f.PathOf("b.qcow2");

        Assert.Equal(ExitCodes.NoInput, _f.Run("backup", "0", "b1", "--to", to, "--since", "nope").Code);
        Assert.Equal(0, _f.Run("snapshot", "0", "plain").Code);
        (int code, _, string error) = _f.Run("backup", "0", "b1", "--to", to, "--since", "plain");
        Assert.Equal(ExitCodes.NoInput, code);
        Assert.Contains("has no backup to build on", error, StringComparison.Ordinal);
        File.WriteAllText(to, "mine");
        Assert.Equal(ExitCodes.Usage, _f.Run("backup", "0", "b1", "--to", to).Code);
        Assert.Equal("mine", File.ReadAllText(to));
        File.Delete(to);
        Assert.Equal(ExitCodes.Usage, _f.Run("backup", "7", "b1", "--to", to).Code);
        Assert.False(File.Exists(to));
        Assert.False(File.Exists(to + ".json"));

        // Without tracking, a full backup works and an increment is refused.
        Assert.Equal(0, _f.Run("backup", "0", "b1", "--to", to).Code);
        (code, _, error) = _f.Run("backup", "0", "b2", "--to", _f.PathOf("b2.qcow2"), "--since", "b1");
        Assert.Equal(ExitCodes.Unavailable, code);
        Assert.Contains("track changes", error, StringComparison.Ordinal);
        Assert.False(File.Exists(_f.PathOf("b2.qcow2")));
    }

    private void Write(Random random, long offset, int length)
    {
        byte[] data = new byte[length];
        random.NextBytes(data);
        Assert.Equal(length, _f.Factory.Io(0, BlockOp.Write, data, offset));
    }

    private void Backup(string name, string? since, out BackupReport report)
    {
        string[] args = since is null
            ? ["backup", "0", name, "--to", _f.PathOf(name + ".qcow2"), "--json"]
            : ["backup", "0", name, "--to", _f.PathOf(name + ".qcow2"), "--since", since, "--json"];
        (int code, string output, string error) = _f.Run(args);
        Assert.True(code == 0, error);
        report = JsonSerializer.Deserialize(output, ControlJson.Default.BackupReport)!;
    }

    private static void Run(string tool, params string[] args)
    {
        var info = new ProcessStartInfo(tool) { RedirectStandardError = true };
        foreach (string a in args)
        {
            info.ArgumentList.Add(a);
        }

        using Process p = Process.Start(info)!;
        string error = p.StandardError.ReadToEnd();
        p.WaitForExit();
        Assert.True(p.ExitCode == 0, $"{tool}: {error}");
    }
}
