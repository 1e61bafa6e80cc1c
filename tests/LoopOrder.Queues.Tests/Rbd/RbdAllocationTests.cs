using LoopOrder.Queues.Backends;
using LoopOrder.Queues.Requests;
using LoopOrder.Queues.Targets.Rbd;
using LoopOrder.Queues.Tests.Nbd;

namespace LoopOrder.Queues.Tests.Rbd;

/// <summary>
/// Steady-state requests on an RBD executor allocate nothing managed: not on the worker thread
/// that starts and reports them, and not on librbd's callback threads (the whole process,
/// measured while nothing else runs: the Ceph collection runs alone).
/// </summary>
[Collection(CephCollection.Name)]
public sealed class RbdAllocationTests(CephTestCluster cluster, Xunit.Abstractions.ITestOutputHelper output)
{
    private const int Block = 4096;
    private const int Large = 128 * 1024;
    private const int WarmupCycles = 500;
    private const int MeasuredCycles = 2_000;
    private const int Windows = 3;

    /// <summary>
    /// Process-wide slack for the runtime's and the test runner's own threads (as in the engine's
    /// AllocationTests). One allocation per request would be at least 24 B x 2,000 = 48 KB.
    /// </summary>
    private const long ProcessSlackBytes = 16 * 1024;

    [Fact]
    public void Reads_writes_fua_writes_write_zeroes_and_flushes_allocate_nothing_in_steady_state()
    {
        string image = cluster.CreateImage(8 << 20);
        using RbdBackend backend = RbdBackend.Open(RbdDevice.Options(cluster, image));
        using var buffers = new NbdBuffers();
        var probe = new Probe();
        using IBackendExecutor executor = backend.CreateExecutor(probe);
        var request = new BlockRequest(0, 0, probe);
        nint small = buffers.Allocate(Block);
        nint large = buffers.Allocate(Large);

        Cycle(executor, probe, request, small, large, WarmupCycles);
        long quietest = long.MaxValue;
        for (int w = 0; w < Windows; w++)
        {
            long thread0 = GC.GetAllocatedBytesForCurrentThread();
            long total0 = GC.GetTotalAllocatedBytes(precise: true);
            Cycle(executor, probe, request, small, large, MeasuredCycles);
            long thread1 = GC.GetAllocatedBytesForCurrentThread();
            long total1 = GC.GetTotalAllocatedBytes(precise: true);
            output.WriteLine($"window {w}: worker {thread1 - thread0} B, process {total1 - total0} B");
            Assert.Equal(0, thread1 - thread0);
            quietest = Math.Min(quietest, total1 - total0);
        }

        Assert.InRange(quietest, 0, ProcessSlackBytes);
    }

    private static void Cycle(IBackendExecutor executor, Probe probe, BlockRequest request, nint small, nint large, int cycles)
    {
        for (int i = 0; i < cycles; i++)
        {
            ulong sector = (ulong)(i % 64) * (Large / BlockRequest.SectorSize);
            (BlockOp op, RequestFlags flags, int length, nint buffer) = (i % 6) switch
            {
                0 => (BlockOp.Write, RequestFlags.None, Block, small),
                1 => (BlockOp.Write, RequestFlags.Fua, Large, large),
                2 => (BlockOp.Read, RequestFlags.None, Block, small),
                3 => (BlockOp.Read, RequestFlags.None, Large, large),
                4 => (BlockOp.WriteZeroes, RequestFlags.None, Block, 0),
                _ => (BlockOp.Flush, RequestFlags.None, 0, 0),
            };
            request.Prepare(op, flags, op == BlockOp.Flush ? 0 : sector, (uint)(length / BlockRequest.SectorSize), RequestBuffer.Memory(buffer, length));
            executor.Start(request);
            while (!probe.Done)
            {
                executor.Poll(block: true);
            }

            probe.Done = false;
            if (probe.Result != (op == BlockOp.Flush ? 0 : length))
            {
                Assert.Fail($"{op} {flags} of {length} bytes returned {probe.Result}");
            }
        }
    }

    /// <summary>Reports arrive on the worker thread (from Poll), so plain fields do.</summary>
    private sealed class Probe : IBackendCompletion, IRequestCompletion
    {
        public bool Done;

        public int Result;

        public void Landed(BlockRequest request, int result)
        {
            Result = result;
            Done = true;
        }

        public void Complete(BlockRequest request, int result) => throw new InvalidOperationException("the executor reports to its IBackendCompletion");
    }
}
