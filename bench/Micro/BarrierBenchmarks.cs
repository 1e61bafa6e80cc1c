using BenchmarkDotNet.Attributes;
using LoopOrder.Interop;
using LoopOrder.Queues.Backends;
using LoopOrder.Queues.Engine;
using LoopOrder.Queues.Ordering;
using LoopOrder.Queues.Requests;

namespace LoopOrder.Bench.Micro;

/// <summary>
/// The flush barrier's bookkeeping on one thread (InlineDispatcher + MemoryBackend): 32 writes,
/// then a flush, per mode. Inline, each write has landed before the next is received, so this is
/// the Sequencer's cost of a barrier without waiting; <see cref="DispatchBenchmarks"/> has the
/// barrier through the workers, where the flush really waits.
/// </summary>
[MemoryDiagnoser]
public class BarrierBenchmarks
{
    private const int Writes = 32;
    private const int BlockBytes = 4096;

    private BlockEngine _engine = null!;
    private AlignedBuffer _buffers = null!;
    private BlockRequest[] _slots = null!;
    private BlockRequest _flush = null!;

    [Params(OrderingMode.Drain, OrderingMode.Strict, OrderingMode.None)]
    public OrderingMode Mode { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _engine = BlockEngine.Create(new MemoryBackend(64L << 20), new EngineOptions { Inline = true, Mode = Mode });
        _buffers = new AlignedBuffer((nuint)(Writes * BlockBytes));
        var ack = new CheckingCompletion();
        _slots = new BlockRequest[Writes];
        for (int i = 0; i < Writes; i++)
        {
            _slots[i] = new BlockRequest(0, i, ack);
        }

        _flush = new BlockRequest(0, Writes, ack);
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _engine.Dispose();
        _buffers.Dispose();
    }

    /// <summary>32 × 4 KiB writes and a flush; per barrier.</summary>
    [Benchmark]
    public void WritesThenFlush()
    {
        nint buffers = _buffers.DangerousGetHandle();
        for (int i = 0; i < Writes; i++)
        {
            _slots[i].Prepare(BlockOp.Write, RequestFlags.None, (ulong)i * 8, 8, RequestBuffer.Memory(buffers + (i * BlockBytes), BlockBytes));
            _engine.Submit(_slots[i]);
        }

        _flush.Prepare(BlockOp.Flush, RequestFlags.None, 0, 0, RequestBuffer.None);
        _engine.Submit(_flush);
    }
}
