using System.Diagnostics;
using LoopOrder.Interop;
using LoopOrder.Queues.Engine;
using LoopOrder.Queues.Requests;

namespace LoopOrder.Bench.EngineRun;

/// <summary>
/// A closed-loop load like fio's: <c>depth</c> request slots, each with its own 4096-aligned
/// buffer, each resubmitted from its own completion callback with a new random 4 KiB offset. The
/// callback runs on the worker thread that finished the request, so the whole loop (ack, next
/// submit, channel, start) stays on that thread: no driver thread, no hand-off, nothing the driver
/// adds that a queue thread would not. Optionally every (flushEvery+1)-th submission is a flush,
/// i.e. one flush after every <c>flushEvery</c> writes, like fio's --fsync=N.
/// </summary>
internal sealed class ClosedLoop : IRequestCompletion, IDisposable
{
    private const int BlockBytes = 4096;
    private const int BlockSectors = BlockBytes / BlockRequest.SectorSize;

    private readonly BlockEngine _engine;
    private readonly int _depth;
    private readonly int _flushEvery;
    private readonly ulong _blocks;
    private readonly BlockRequest[] _slots;
    private readonly long[] _submitted;
    private readonly ulong[] _rng;
    private readonly AlignedBuffer _buffers;
    private readonly ManualResetEventSlim _drained = new();

    /// <summary>Write latencies (submit → acknowledgement) while <see cref="_measuring"/>.</summary>
    private readonly LatencyHistogram _latency = new();

    private long _issued;
    private long _writesMeasured;
    private long _flushesMeasured;
    private long _errors;
    private int _outstanding;
    private volatile bool _measuring;
    private volatile bool _stopping;

    public ClosedLoop(BlockEngine engine, int depth, int flushEvery, long deviceBytes)
    {
        _engine = engine;
        _depth = depth;
        _flushEvery = flushEvery;
        _blocks = (ulong)(deviceBytes / BlockBytes);
        _slots = new BlockRequest[depth];
        _submitted = new long[depth];
        _rng = new ulong[depth];
        _buffers = new AlignedBuffer((nuint)(depth * BlockBytes));
        for (int i = 0; i < depth; i++)
        {
            _slots[i] = new BlockRequest(0, i, this);
            _rng[i] = 0x9E3779B97F4A7C15UL * (ulong)(i + 1);

            // Non-zero, slot-specific data, so a write is never a no-op of zeros.
            _buffers.Slice(i * BlockBytes, BlockBytes).Fill((byte)(i + 1));
        }
    }

    public LatencyHistogram Latency => _latency;

    public long WritesMeasured => Interlocked.Read(ref _writesMeasured);

    public long FlushesMeasured => Interlocked.Read(ref _flushesMeasured);

    public long Errors => Interlocked.Read(ref _errors);

    /// <summary>Starts every slot.</summary>
    public void Start()
    {
        _outstanding = _depth;
        for (int i = 0; i < _depth; i++)
        {
            Issue(_slots[i]);
        }
    }

    /// <summary>Counts completions (and latencies) from now until <see cref="EndMeasuring"/>.</summary>
    public void BeginMeasuring() => _measuring = true;

    public void EndMeasuring() => _measuring = false;

    /// <summary>Stops resubmitting and waits for every slot to come back.</summary>
    public bool StopAndDrain(TimeSpan timeout)
    {
        _stopping = true;
        return _drained.Wait(timeout);
    }

    public void Complete(BlockRequest request, int result)
    {
        long now = Stopwatch.GetTimestamp();
        if (result < 0)
        {
            Interlocked.Increment(ref _errors);
        }

        if (_measuring)
        {
            if (request.Op == BlockOp.Write)
            {
                Interlocked.Increment(ref _writesMeasured);
                _latency.Record((long)((now - _submitted[request.Tag]) * (1e9 / Stopwatch.Frequency)));
            }
            else
            {
                Interlocked.Increment(ref _flushesMeasured);
            }
        }

        if (_stopping)
        {
            if (Interlocked.Decrement(ref _outstanding) == 0)
            {
                _drained.Set();
            }

            return;
        }

        Issue(request);
    }

    private void Issue(BlockRequest slot)
    {
        long n = Interlocked.Increment(ref _issued);
        if (_flushEvery > 0 && n % (_flushEvery + 1) == 0)
        {
            slot.Prepare(BlockOp.Flush, RequestFlags.None, 0, 0, 0, 0);
        }
        else
        {
            // xorshift64: the slot's own generator, so callbacks on several workers never share state.
            ulong x = _rng[slot.Tag];
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            _rng[slot.Tag] = x;
            ulong block = x % _blocks;
            unsafe
            {
                slot.Prepare(BlockOp.Write, RequestFlags.None, block * BlockSectors, BlockSectors, (nint)(_buffers.Pointer + (slot.Tag * BlockBytes)), BlockBytes);
            }
        }

        _submitted[slot.Tag] = Stopwatch.GetTimestamp();
        _engine.Submit(slot);
    }

    public void Dispose()
    {
        _buffers.Dispose();
        _drained.Dispose();
    }
}
