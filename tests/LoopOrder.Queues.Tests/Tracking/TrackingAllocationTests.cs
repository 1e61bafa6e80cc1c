using LoopOrder.Queues.Backends;
using LoopOrder.Queues.Engine;
using LoopOrder.Queues.Requests;
using LoopOrder.Queues.Tests.Dispatch;
using LoopOrder.Queues.Tracking;

namespace LoopOrder.Queues.Tests.Tracking;

/// <summary>Writes to regions already marked cost a few bit tests: nothing allocated per request.</summary>
public sealed class TrackingAllocationTests
{
    [Fact]
    public void Writes_to_marked_regions_allocate_nothing()
    {
        string dir = Directory.CreateTempSubdirectory("cbt-alloc-").FullName;
        try
        {
            var options = new EngineOptions
            {
                Inline = true,
                Tracking = new TrackerOptions { MetadataPath = Path.Combine(dir, "dev.cbt"), ManualCommits = true },
            };
            using var engine = BlockEngine.Create(new MemoryBackend(1 << 20), options);
            using var buffers = new NativeBuffers();
            var completion = new CountingCompletion();
            var slot = new BlockRequest(0, 0, completion);
            nint buffer = buffers.Allocate(4096);

            // Mark the first two regions, then warm up.
            for (int region = 0; region < 2; region++)
            {
                slot.Prepare(BlockOp.Write, RequestFlags.None, (ulong)region * 128, 8, RequestBuffer.Memory(buffer, 4096));
                engine.Submit(slot);
                Assert.True(engine.Tracker!.RunCommit());
            }

            Cycle(engine, slot, buffer, 1000);
            long before = GC.GetAllocatedBytesForCurrentThread();
            Cycle(engine, slot, buffer, 20_000);
            long after = GC.GetAllocatedBytesForCurrentThread();

            Assert.Equal(0, after - before);
            Assert.Equal(2, engine.Tracker!.Commits);
            Assert.Equal(21_002, completion.Count);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    private static void Cycle(BlockEngine engine, BlockRequest slot, nint buffer, int count)
    {
        for (int i = 0; i < count; i++)
        {
            slot.Prepare(BlockOp.Write, RequestFlags.None, (ulong)(i % 240), 8, RequestBuffer.Memory(buffer, 4096)); // within regions 0 and 1 (sectors 0..255)
            engine.Submit(slot);
        }
    }
}
