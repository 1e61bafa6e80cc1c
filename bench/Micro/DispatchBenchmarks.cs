using BenchmarkDotNet.Attributes;
using LoopOrder.Interop;
using LoopOrder.Queues.Backends;
using LoopOrder.Queues.Dispatch;
using LoopOrder.Queues.Engine;
using LoopOrder.Queues.Requests;

namespace LoopOrder.Bench.Micro;

/// <summary>
/// The dispatch path end to end without a disk: Submit (Sequencer) → node channel → worker thread
/// → MemoryBackend (4 KiB copy) → Landed → acknowledgement, in batches of 32 like a QD32 queue.
/// Reported per request. Also the barrier: 32 writes and a flush that must wait for them.
/// </summary>
[MemoryDiagnoser]
public class DispatchBenchmarks
{
    /// <summary>A QD32 queue's worth.</summary>
    private const int Batch = 32;

    private const int BlockBytes = 4096;

    private BlockEngine _engine = null!;
    private BatchWaiter _waiter = null!;
    private BlockRequest[] _slots = null!;
    private BlockRequest _flush = null!;
    private AlignedBuffer _buffers = null!;

    [GlobalSetup]
    public void Setup()
    {
        _waiter = new BatchWaiter();
        _buffers = new AlignedBuffer((nuint)(Batch * BlockBytes));
        _engine = BlockEngine.Create(
            new MemoryBackend(64L << 20),
            new EngineOptions { Topology = NumaTopology.Read(), MaxInFlight = Batch + 1 });
        _slots = new BlockRequest[Batch];
        for (int i = 0; i < Batch; i++)
        {
            _slots[i] = new BlockRequest(0, i, _waiter);
        }

        _flush = new BlockRequest(0, Batch, _waiter);
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _engine.Dispose();
        _buffers.Dispose();
    }

    /// <summary>32 non-overlapping 4 KiB writes submitted back to back, then wait for all 32 acks.</summary>
    [Benchmark(OperationsPerInvoke = Batch)]
    public void SubmitBatchOf32() => SubmitWrites(withFlush: false);

    /// <summary>32 writes and a flush received after them (drain: its sync waits for all 32); per batch.</summary>
    [Benchmark]
    public void Barrier32WritesAndFlush() => SubmitWrites(withFlush: true);

    private void SubmitWrites(bool withFlush)
    {
        _waiter.Arm(withFlush ? Batch + 1 : Batch);
        nint buffers = _buffers.DangerousGetHandle();
        for (int i = 0; i < Batch; i++)
        {
            BlockRequest r = _slots[i];
            r.Prepare(BlockOp.Write, RequestFlags.None, (ulong)i * 8, 8, RequestBuffer.Memory(buffers + (i * BlockBytes), BlockBytes));
            _engine.Submit(r);
        }

        if (withFlush)
        {
            _flush.Prepare(BlockOp.Flush, RequestFlags.None, 0, 0, RequestBuffer.None);
            _engine.Submit(_flush);
        }

        _waiter.Wait();
    }
}
