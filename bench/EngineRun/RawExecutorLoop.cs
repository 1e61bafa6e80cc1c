using System.Diagnostics;
using LoopOrder.Interop;
using LoopOrder.Queues.Backends;
using LoopOrder.Queues.Requests;

namespace LoopOrder.Bench.EngineRun;

/// <summary>
/// The same closed loop as <see cref="ClosedLoop"/> but straight on one backend executor on one
/// thread: no Sequencer, no channel, no worker protocol. The table's "executor" row, so a gap
/// between the engine and fio can be split into what the engine adds and what the backend does.
/// </summary>
internal sealed class RawExecutorLoop : IBackendCompletion, IDisposable
{
    private const int BlockBytes = 4096;
    private const int BlockSectors = BlockBytes / BlockRequest.SectorSize;

    private readonly IBackend _backend;
    private readonly int _depth;
    private readonly int _flushEvery;
    private readonly ulong _blocks;
    private readonly BlockRequest[] _slots;
    private readonly long[] _submitted;
    private readonly ulong[] _rng;
    private readonly AlignedBuffer _buffers;
    private readonly LatencyHistogram _latency = new();
    private readonly Thread _thread;
    private IBackendExecutor? _executor;
    private long _issued;
    private long _writesMeasured;
    private long _flushesMeasured;
    private long _errors;
    private int _outstanding;
    private volatile bool _measuring;
    private volatile bool _stopping;

    public RawExecutorLoop(IBackend backend, int depth, int flushEvery)
    {
        _backend = backend;
        _depth = depth;
        _flushEvery = flushEvery;
        _blocks = (ulong)(backend.Length / BlockBytes);
        _slots = new BlockRequest[depth];
        _submitted = new long[depth];
        _rng = new ulong[depth];
        _buffers = new AlignedBuffer((nuint)(depth * BlockBytes));
        var unused = new NoAck();
        for (int i = 0; i < depth; i++)
        {
            _slots[i] = new BlockRequest(0, i, unused);
            _rng[i] = 0x9E3779B97F4A7C15UL * (ulong)(i + 1);
            _buffers.Slice(i * BlockBytes, BlockBytes).Fill((byte)(i + 1));
        }

        _thread = new Thread(Run) { IsBackground = true, Name = "raw-executor" };
    }

    public LatencyHistogram Latency => _latency;

    public long WritesMeasured => Interlocked.Read(ref _writesMeasured);

    public long FlushesMeasured => Interlocked.Read(ref _flushesMeasured);

    public long Errors => Interlocked.Read(ref _errors);

    public void Start() => _thread.Start();

    public void BeginMeasuring() => _measuring = true;

    public void EndMeasuring() => _measuring = false;

    public bool StopAndJoin(TimeSpan timeout)
    {
        _stopping = true;
        return _thread.Join(timeout);
    }

    public void Landed(BlockRequest request, int result)
    {
        long now = Stopwatch.GetTimestamp();
        if (result < 0)
        {
            _errors++;
        }

        if (_measuring)
        {
            if (request.Op == BlockOp.Write)
            {
                _writesMeasured++;
                _latency.Record((long)((now - _submitted[request.Tag]) * (1e9 / Stopwatch.Frequency)));
            }
            else
            {
                _flushesMeasured++;
            }
        }

        if (_stopping)
        {
            _outstanding--;
            return;
        }

        Issue(request);
    }

    public void Dispose() => _buffers.Dispose();

    private void Run()
    {
        IBackendExecutor executor = _backend.CreateExecutor(this);
        _executor = executor;
        _outstanding = _depth;
        foreach (BlockRequest slot in _slots)
        {
            Issue(slot);
        }

        while (_outstanding > 0)
        {
            executor.Poll(block: true);
        }

        executor.Dispose();
    }

    private void Issue(BlockRequest slot)
    {
        long n = ++_issued;
        if (_flushEvery > 0 && n % (_flushEvery + 1) == 0)
        {
            slot.Prepare(BlockOp.Flush, RequestFlags.None, 0, 0, 0, 0);
        }
        else
        {
            ulong x = _rng[slot.Tag];
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            _rng[slot.Tag] = x;
            slot.Prepare(BlockOp.Write, RequestFlags.None, x % _blocks * BlockSectors, BlockSectors, _buffers.DangerousGetHandle() + (slot.Tag * BlockBytes), BlockBytes);
        }

        _submitted[slot.Tag] = Stopwatch.GetTimestamp();
        _executor!.Start(slot);
    }

    /// <summary>Requests here are never submitted to an engine, so nothing acknowledges them.</summary>
    private sealed class NoAck : IRequestCompletion
    {
        public void Complete(BlockRequest request, int result)
        {
        }
    }
}
