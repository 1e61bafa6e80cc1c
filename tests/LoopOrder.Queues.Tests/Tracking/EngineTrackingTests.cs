using LoopOrder.Queues.Backends;
using LoopOrder.Queues.Dispatch;
using LoopOrder.Queues.Engine;
using LoopOrder.Queues.Requests;
using LoopOrder.Queues.Tests.Dispatch;
using LoopOrder.Queues.Tracking;

namespace LoopOrder.Queues.Tests.Tracking;

/// <summary>Tracking through <see cref="BlockEngine"/>: off by default; on, with its commit thread and a metadata file, over socket workers.</summary>
public sealed class EngineTrackingTests
{
    private static readonly TimeSpan HangLimit = TimeSpan.FromSeconds(60);

    [Fact]
    public void Tracking_is_off_by_default()
    {
        Assert.Null(new EngineOptions().Tracking);
        using var engine = BlockEngine.Create(new MemoryBackend(1 << 20), new EngineOptions { Inline = true });
        Assert.Null(engine.Tracker);
    }

    [Fact]
    public void Every_region_written_through_a_threaded_engine_is_marked_in_the_file_and_survives_a_reopen()
    {
        const long device = 8L << 20;
        const int region = 64 * 1024;
        string dir = Directory.CreateTempSubdirectory("cbt-engine-").FullName;
        try
        {
            var tracking = new TrackerOptions { MetadataPath = Path.Combine(dir, "dev.cbt"), RegionSize = region };
            var backend = new MemoryBackend(device);
            using var buffers = new NativeBuffers();
            var random = new Random(15);
            var expected = new SortedSet<long>();
            var requests = new List<BlockRequest>();
            const int count = 48;
            var completion = new CountingCompletion { Target = count };
            for (int i = 0; i < count; i++)
            {
                uint sectors = (uint)random.Next(1, 64);
                ulong start = (ulong)random.NextInt64(0, (device / 512) - sectors);
                var r = new BlockRequest(0, i, completion);
                r.Prepare(i % 4 == 3 ? BlockOp.Discard : BlockOp.Write, RequestFlags.None, start, sectors,
                    i % 4 == 3 ? RequestBuffer.None : RequestBuffer.Memory(buffers.Allocate((int)sectors * 512), (int)sectors * 512));
                requests.Add(r);
                for (long g = (long)(start * 512 / region); g <= (long)(((start + sectors) * 512) - 1) / region; g++)
                {
                    expected.Add(g);
                }
            }

            using (BlockEngine engine = BlockEngine.Create(backend, new EngineOptions
            {
                Tracking = tracking,
                Topology = NumaTopology.FromNodes([0]),
                PinWorkers = false,
                OwnsBackend = false,
            }))
            {
                foreach (BlockRequest r in requests)
                {
                    engine.Submit(r);
                }

                Assert.True(completion.Reached.Wait(HangLimit));
                Assert.All(requests, r => Assert.True(completion.Results[r] >= 0, $"{r} -> {completion.Results[r]}"));
                Assert.Equal(expected, engine.Tracker!.MarkedRegions);
                Assert.InRange(engine.Tracker.Commits, 1, expected.Count); // first touches are grouped, never more than one commit a region
                Assert.True(engine.Shutdown(HangLimit));
            }

            using ChangeTracker reopened = ChangeTracker.Open(tracking with { ManualCommits = true }, device, 512);
            Assert.Equal(expected, reopened.MarkedRegions);
            backend.Dispose();
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public void A_snapshot_closes_the_generation_at_its_barrier()
    {
        const int region = 64 * 1024;
        string dir = Directory.CreateTempSubdirectory("cbt-gen-").FullName;
        try
        {
            var tracking = new TrackerOptions { MetadataPath = Path.Combine(dir, "dev.cbt"), RegionSize = region };
            using var backend = new MemoryBackend(8L << 20);
            using var buffers = new NativeBuffers();
            var completion = new CountingCompletion { Target = 1 };
            var before = new BlockRequest(0, 0, completion);
            before.Prepare(BlockOp.Write, RequestFlags.None, 0, 8, RequestBuffer.Memory(buffers.Allocate(4096), 4096));
            var during = new BlockRequest(0, 1, completion);
            during.Prepare(BlockOp.Write, RequestFlags.None, 3 * region / 512, 8, RequestBuffer.Memory(buffers.Allocate(4096), 4096));
            using (BlockEngine engine = BlockEngine.Create(backend, new EngineOptions { Tracking = tracking, PinWorkers = false, OwnsBackend = false }))
            {
                engine.Submit(before);
                Assert.True(completion.Reached.Wait(HangLimit));
                SnapshotBarrierResult result = engine.Snapshot(() => engine.Submit(during), HangLimit);
                Assert.Equal(1UL, result.ClosedGeneration);
                Assert.True(engine.WaitForIdle(HangLimit));
                Assert.Equal(4096, completion.Results[during]);
                Assert.Equal([0L], engine.Tracker!.ChangedSince(0, 1).SetRegions());
                Assert.Equal([3L], engine.Tracker.ChangedSince(1).SetRegions());
                Assert.True(engine.Shutdown(HangLimit));
            }

            using ChangeTracker reopened = ChangeTracker.Open(tracking with { ManualCommits = true }, 8L << 20, 512);
            Assert.Equal(2UL, reopened.Generation);
            Assert.Equal([3L], reopened.MarkedRegions);
            Assert.Equal([0L], reopened.ChangedSince(0, 1).SetRegions());
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }
}
