using BenchmarkDotNet.Attributes;
using LoopOrder.Interop;
using LoopOrder.Queues.Engine;
using LoopOrder.Queues.Requests;

namespace LoopOrder.Bench.Micro;

/// <summary>
/// The Sequencer's decision per request, on one thread (InlineDispatcher), with 31 other writes
/// in flight (parked in <see cref="ParkingBackend"/>) so every decision checks overlaps against
/// a QD32's worth of unlanded writes. Each benchmark is one request received, started, landed
/// and acknowledged; no bytes move.
/// </summary>
[MemoryDiagnoser]
public class SequencerBenchmarks
{
    /// <summary>Writes kept in flight beside the measured request: a QD32 queue less the one measured.</summary>
    private const int InFlight = 31;

    private const int BlockSectors = 8;

    private BlockEngine _engine = null!;
    private ParkingBackend _backend = null!;
    private AlignedBuffer _buffer = null!;
    private BlockRequest[] _parked = null!;
    private BlockRequest _request = null!;

    [GlobalSetup]
    public void Setup()
    {
        _backend = new ParkingBackend(1L << 30);
        _engine = BlockEngine.Create(_backend, new EngineOptions { Inline = true });
        _buffer = new AlignedBuffer(4096);
        var ack = new CheckingCompletion();
        _parked = new BlockRequest[InFlight];
        for (int i = 0; i < InFlight; i++)
        {
            // Spread over the device, as random writes would be.
            _parked[i] = new BlockRequest(ParkingBackend.ParkQueue, i, ack);
            Park(_parked[i], (ulong)(i + 1) * 4096 * BlockSectors);
        }

        _request = new BlockRequest(0, 0, ack);
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        foreach (BlockRequest p in _parked)
        {
            _backend.Land(p);
        }

        _engine.Dispose();
        _buffer.Dispose();
    }

    /// <summary>A write that overlaps nothing in flight: starts at once.</summary>
    [Benchmark(Baseline = true)]
    public void Write() => Run(BlockOp.Write, sector: 0);

    /// <summary>A read that overlaps nothing in flight.</summary>
    [Benchmark]
    public void Read() => Run(BlockOp.Read, sector: 0);

    /// <summary>
    /// A write overlapping one in flight: it waits, the blocker lands and releases it, it runs.
    /// Includes the blocker's landing and re-submission (so: two receipts, two landings).
    /// </summary>
    [Benchmark]
    public void OverlappingWrite()
    {
        BlockRequest blocker = _parked[0];
        _request.Prepare(BlockOp.Write, RequestFlags.None, blocker.StartSector, BlockSectors, RequestBuffer.Memory(_buffer.DangerousGetHandle(), 4096));
        _engine.Submit(_request);
        _backend.Land(blocker);
        Park(blocker, blocker.StartSector);
    }

    private void Run(BlockOp op, ulong sector)
    {
        _request.Prepare(op, RequestFlags.None, sector, BlockSectors, RequestBuffer.Memory(_buffer.DangerousGetHandle(), 4096));
        _engine.Submit(_request);
    }

    private void Park(BlockRequest r, ulong sector)
    {
        r.Prepare(BlockOp.Write, RequestFlags.None, sector, BlockSectors, RequestBuffer.Memory(_buffer.DangerousGetHandle(), 4096));
        _engine.Submit(r);
    }
}
