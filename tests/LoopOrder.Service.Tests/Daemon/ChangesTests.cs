using System.Runtime.InteropServices;
using LoopOrder.Queues.Dispatch;
using LoopOrder.Queues.Requests;
using LoopOrder.Queues.Tracking;
using LoopOrder.Service.Configuration;
using LoopOrder.Service.Control;
using LoopOrder.Service.Daemon;

namespace LoopOrder.Service.Tests.Daemon;

/// <summary>
/// loop-order changes and --track-changes through the CLI, the control socket and a daemon over
/// the fake kernel. The host cannot cut a reflink snapshot, so the successful queries run on a
/// device a restarted daemon recovers: its record names snapshots with their generations, and
/// its FILE.cbt was written by a tracker that closed those generations (as the barrier does).
/// </summary>
public sealed class ChangesTests : IDisposable
{
    private const int Region = TrackerOptions.DefaultRegionSize;

    private readonly DaemonFixture _f = new();

    public void Dispose() => _f.Dispose();

    private string Records => Path.Combine(_f.RuntimeDirectory, "devices");

    [Fact]
    public void Bad_input_is_refused_with_its_exit_code()
    {
        _f.Start();
        string file = _f.PathOf("tracked.img");
        Assert.Equal(0, _f.Run("add", "--file", file, "--size", "4M", "--track-changes").Code);
        Assert.Equal(0, _f.Run("add", "--file", _f.PathOf("plain.img"), "--size", "4M").Code);
        Assert.True(File.Exists(file + ".cbt"), "the tracking metadata lives next to the backing file");
        string record = File.ReadAllText(Path.Combine(Records, "0.json"));
        Assert.Contains("\"trackChanges\":true", record, StringComparison.Ordinal); // a restarted daemon tracks it again
        Assert.DoesNotContain("trackingMetadataPath", record, StringComparison.Ordinal);

        Assert.Equal((ExitCodes.Usage, "loop-order changes: no device 7 is served by this daemon; see loop-order list."), Refusal("changes", "7", "--since", "a"));
        Assert.Equal((ExitCodes.Unavailable, $"loop-order changes: device 1: {ServedDevice.NotTracking}."), Refusal("changes", "1", "--since", "a"));
        Assert.Equal((ExitCodes.NoInput, "loop-order changes: device 0 has no snapshot named a; see loop-order snapshot list 0."), Refusal("changes", "0", "--since", "a"));
        Assert.NotEqual(0, _f.Run("changes", "0").Code); // --since is required
        Assert.Contains("cannot be resized", Refusal("resize", "0", "8M").Error, StringComparison.Ordinal);

        Assert.Contains("needs the file target", Refusal("add", "--target", "memory", "--size", "1M", "--track-changes").Error, StringComparison.Ordinal);
        Assert.Equal(ExitCodes.Usage, Refusal("add", "--file", _f.PathOf("c.img"), "--size", "4M", "--track-changes", "--track-granularity", "3K").Code);
        Assert.Equal(ExitCodes.Usage, Refusal("add", "--file", _f.PathOf("c.img"), "--size", "4M", "--track-changes", "--track-granularity", "2G").Code);
        Assert.Equal(ExitCodes.Usage, Refusal("add", "--file", _f.PathOf("c.img"), "--size", "4M", "--track-granularity", "64K").Code);
        Assert.False(File.Exists(_f.PathOf("c.img")));
    }

    [Fact]
    public void Appsettings_turns_tracking_on_with_TrackChanges_and_its_granularity()
    {
        string file = _f.PathOf("configured.img");
        _f.WriteConfig($$"""{ "LoopOrder": { "Devices": [ { "File": "{{file}}", "Size": "4M", "TrackChanges": true, "TrackGranularity": "1M" } ] } }""");
        _f.Start();

        Assert.True(File.Exists(file + ".cbt"));
        // Opening with 1 MiB regions would throw were the file laid out for another granularity.
        using ChangeTracker reopened = ChangeTracker.Open(new TrackerOptions { MetadataPath = file + ".cbt", RegionSize = 1 << 20, ManualCommits = true }, 4 << 20, 512);
        Assert.Equal(4, reopened.RegionCount);
    }

    [Fact]
    public void A_recovered_device_reports_the_changes_between_its_snapshots_and_up_to_now()
    {
        string file = _f.PathOf("disk.img");
        File.WriteAllBytes(file, new byte[4 << 20]);
        WriteGenerations(file + ".cbt", [[0], [2], [3]]); // generations 1 and 2 closed, 3 current
        DeviceOptions options = DaemonFixture.Device(file, "4M");
        options.TrackChanges = true;
        new DeviceRecords(Records).Save(new DeviceRecord
        {
            Id = 0,
            Options = options,
            Snapshots =
            [
                new SnapshotRecord { Name = "untracked", Path = file + ".snap-untracked" },
                new SnapshotRecord { Name = "s1", Path = file + ".snap-s1", Generation = 1 },
                new SnapshotRecord { Name = "s2", Path = file + ".snap-s2", Generation = 2 },
            ],
        });
        _f.Factory.Kernel[0] = DeviceState.Quiesced;
        _f.Start();
        Assert.Equal([0u], _f.Factory.Recovered.ToArray());

        // A write after the recovery lands in the reopened current generation.
        Write(_f.Factory.Submitters[0], 10 * Region / BlockRequest.SectorSize);

        Assert.Equal((0, $"{2 * Region} {Region}\ntotal: {Region} bytes in 1 extents\n"), Output("changes", "0", "--since", "s1", "--to", "s2"));
        Assert.Equal(
            (0, $"[{{\"offset\":{2 * Region},\"length\":{2 * Region}}},{{\"offset\":{10 * Region},\"length\":{Region}}}]\n"),
            Output("changes", "0", "--since", "s1", "--json"));
        Assert.Equal((0, $"{3 * Region} {Region}\n{10 * Region} {Region}\ntotal: {2 * Region} bytes in 2 extents\n"), Output("changes", "0", "--since", "s2", "--to", "now"));
        Assert.Equal((0, "[]\n"), Output("changes", "0", "--since", "s2", "--to", "s2", "--json"));

        Assert.Equal((ExitCodes.Usage, "loop-order changes: snapshot s1 is older than s2: give --since the older one."), Refusal("changes", "0", "--since", "s2", "--to", "s1"));
        Assert.Equal(ExitCodes.NoInput, Refusal("changes", "0", "--since", "s1", "--to", "gone").Code);
        Assert.Contains("taken without change tracking", Refusal("changes", "0", "--since", "untracked").Error, StringComparison.Ordinal);
    }

    /// <summary>Writes a tracker's metadata holding one generation per entry of <paramref name="generations"/> (regions marked), all but the last closed.</summary>
    private static void WriteGenerations(string path, long[][] generations)
    {
        using ChangeTracker tracker = ChangeTracker.Open(new TrackerOptions { MetadataPath = path, ManualCommits = true }, 4 << 20, 512);
        tracker.Attach(new NoSink());
        for (int g = 0; g < generations.Length; g++)
        {
            if (g > 0)
            {
                tracker.CloseGeneration();
            }

            foreach (long region in generations[g])
            {
                var write = new BlockRequest(0, 0, new Done());
                write.Prepare(BlockOp.Write, RequestFlags.None, (ulong)(region * Region / BlockRequest.SectorSize), 8, RequestBuffer.None);
                Assert.Equal(0, tracker.Admit(write));
                Assert.True(tracker.RunCommit());
            }
        }
    }

    private static void Write(Action<BlockRequest> submit, long sector)
    {
        nint buffer = Marshal.AllocHGlobal(4096);
        try
        {
            var done = new Done();
            var write = new BlockRequest(0, 0, done);
            write.Prepare(BlockOp.Write, RequestFlags.None, (ulong)sector, 8, RequestBuffer.Memory(buffer, 4096));
            submit(write);
            Assert.True(done.Finished.Wait(TimeSpan.FromMinutes(1)), "the write never completed");
            Assert.Equal(4096, done.Result);
        }
        finally
        {
            Marshal.FreeHGlobal(buffer);
        }
    }

    private (int Code, string Output) Output(params string[] args)
    {
        (int code, string output, string error) = _f.Run(args);
        Assert.True(code == 0, error);
        return (code, output.ReplaceLineEndings("\n"));
    }

    private (int Code, string Error) Refusal(params string[] args)
    {
        (int code, string output, string error) = _f.Run(args);
        Assert.Equal("", output);
        return (code, error.Trim());
    }

    private sealed class NoSink : IGateSink
    {
        public void Release(BlockRequest write)
        {
        }

        public void Fail(BlockRequest write, int result)
        {
        }
    }

    private sealed class Done : IRequestCompletion
    {
        public ManualResetEventSlim Finished { get; } = new(false);

        public int Result { get; private set; }

        public void Complete(BlockRequest request, int result)
        {
            Result = result;
            Finished.Set();
        }
    }
}
