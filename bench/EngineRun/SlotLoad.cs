using System.Diagnostics;
using LoopOrder.Interop;
using LoopOrder.Queues.Requests;

namespace LoopOrder.Bench.EngineRun;

/// <summary>
/// What both closed loops share: <c>depth</c> request slots, each with its own 4096-aligned
/// buffer and its own xorshift generator, the next request for a slot (a 4 KiB write at a random
/// block, or, with <c>flushEvery</c> &gt; 0, a flush after every <c>flushEvery</c> writes, like
/// fio's --fsync=N), and the accounting of what came back while measuring. Subclasses decide
/// where a prepared slot goes (the engine, or one backend executor) and on which thread it
/// comes back.
/// </summary>
internal abstract class SlotLoad : IDisposable
{
    private const int BlockBytes = 4096;
    private const int BlockSectors = BlockBytes / BlockRequest.SectorSize;

    private readonly int _flushEvery;
    private readonly ulong _blocks;
    private readonly long[] _submitted;
    private readonly ulong[] _rng;
    private readonly AlignedBuffer _buffers;

    /// <summary>Write latencies (submit → completion) while measuring.</summary>
    private readonly LatencyHistogram _latency = new();

    /// <summary>Requests prepared so far: every (flushEvery+1)-th is a flush.</summary>
    private long _issued;
    private long _writesMeasured;
    private long _flushesMeasured;
    private long _errors;
    private volatile bool _measuring;
    private volatile bool _stopping;

    /// <param name="depth">Slots, i.e. requests in flight.</param>
    /// <param name="flushEvery">Writes between flushes; 0 for none.</param>
    /// <param name="deviceBytes">Where random writes may go.</param>
    protected SlotLoad(int depth, int flushEvery, long deviceBytes)
    {
        _flushEvery = flushEvery;
        _blocks = (ulong)(deviceBytes / BlockBytes);
        _submitted = new long[depth];
        _rng = new ulong[depth];
        _buffers = new AlignedBuffer((nuint)(depth * BlockBytes));

        // The engine acknowledges to the slot's completion; a loop straight on an executor hears
        // from the backend instead and its slots are never acknowledged.
        IRequestCompletion ack = this as IRequestCompletion ?? NoAck.Instance;
        Slots = new BlockRequest[depth];
        for (int i = 0; i < depth; i++)
        {
            Slots[i] = new BlockRequest(0, i, ack);
            _rng[i] = 0x9E3779B97F4A7C15UL * (ulong)(i + 1);

            // Non-zero, slot-specific data, so a write is never a no-op of zeros.
            _buffers.Slice(i * BlockBytes, BlockBytes).Fill((byte)(i + 1));
        }
    }

    public LatencyHistogram Latency => _latency;

    public long WritesMeasured => Interlocked.Read(ref _writesMeasured);

    public long FlushesMeasured => Interlocked.Read(ref _flushesMeasured);

    public long Errors => Interlocked.Read(ref _errors);

    /// <summary>The request slots, tag = index.</summary>
    protected BlockRequest[] Slots { get; }

    /// <summary>Issues every slot.</summary>
    public abstract void Start();

    /// <summary>Stops reissuing and waits until every slot came back.</summary>
    public abstract bool StopAndDrain(TimeSpan timeout);

    /// <summary>Counts completions (and latencies) from now until <see cref="EndMeasuring"/>.</summary>
    public void BeginMeasuring() => _measuring = true;

    public void EndMeasuring() => _measuring = false;

    public virtual void Dispose() => _buffers.Dispose();

    /// <summary>From here on <see cref="Finished"/> says not to reissue.</summary>
    protected void RequestStop() => _stopping = true;

    /// <summary>
    /// Accounts a request that came back with <paramref name="result"/>; true when its slot should
    /// be issued again. Callbacks may run on several threads at once.
    /// </summary>
    protected bool Finished(BlockRequest request, int result)
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

        return !_stopping;
    }

    /// <summary>Fills <paramref name="slot"/> with its next request and stamps its submission time.</summary>
    protected void PrepareNext(BlockRequest slot)
    {
        long n = Interlocked.Increment(ref _issued);
        if (_flushEvery > 0 && n % (_flushEvery + 1) == 0)
        {
            slot.Prepare(BlockOp.Flush, RequestFlags.None, 0, 0, RequestBuffer.None);
        }
        else
        {
            // xorshift64: the slot's own generator, so callbacks on several workers never share state.
            ulong x = _rng[slot.Tag];
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            _rng[slot.Tag] = x;
            slot.Prepare(BlockOp.Write, RequestFlags.None, x % _blocks * BlockSectors, BlockSectors, RequestBuffer.Memory(_buffers.DangerousGetHandle() + (slot.Tag * BlockBytes), BlockBytes));
        }

        _submitted[slot.Tag] = Stopwatch.GetTimestamp();
    }

    private sealed class NoAck : IRequestCompletion
    {
        public static readonly NoAck Instance = new();

        public void Complete(BlockRequest request, int result)
        {
        }
    }
}
