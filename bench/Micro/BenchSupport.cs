using LoopOrder.Interop;
using LoopOrder.Queues.Backends;
using LoopOrder.Queues.Requests;

namespace LoopOrder.Bench.Micro;

/// <summary>
/// Counts acknowledgements of a batch and lets the submitting thread wait for the last one without
/// allocating: a short spin (the worker usually finishes within it on an idle core), then a
/// monitor wait on a preallocated object.
/// </summary>
internal sealed class BatchWaiter : IRequestCompletion
{
    /// <summary>Spins before blocking: about a microsecond or two, the order of one batch through MemoryBackend.</summary>
    private const int SpinIterations = 50;

    private readonly object _gate = new();
    private int _remaining;
    private int _errors;

    /// <summary>Requests that completed with a negative result since the last <see cref="Arm"/>.</summary>
    public int Errors => Volatile.Read(ref _errors);

    /// <summary>Expects <paramref name="count"/> acknowledgements. Call before submitting them.</summary>
    public void Arm(int count)
    {
        Volatile.Write(ref _errors, 0);
        Volatile.Write(ref _remaining, count);
    }

    public void Complete(BlockRequest request, int result)
    {
        if (result < 0)
        {
            Interlocked.Increment(ref _errors);
        }

        if (Interlocked.Decrement(ref _remaining) == 0)
        {
            lock (_gate)
            {
                Monitor.Pulse(_gate);
            }
        }
    }

    /// <summary>Waits until every armed acknowledgement arrived.</summary>
    public void Wait()
    {
        var spin = default(SpinWait);
        for (int i = 0; i < SpinIterations && Volatile.Read(ref _remaining) != 0; i++)
        {
            spin.SpinOnce(sleep1Threshold: -1);
        }

        if (Volatile.Read(ref _remaining) != 0)
        {
            lock (_gate)
            {
                while (Volatile.Read(ref _remaining) != 0)
                {
                    Monitor.Wait(_gate);
                }
            }
        }

        if (Errors != 0)
        {
            throw new InvalidOperationException($"{Errors} requests failed");
        }
    }
}

/// <summary>
/// A backend for the Sequencer's micro-benchmarks: requests of queue <see cref="ParkQueue"/> stay
/// started but unlanded until <see cref="Land"/>, so the Sequencer keeps a realistic set of
/// in-flight writes to check overlaps against; all others complete on the next poll (no bytes
/// move: the cost measured is the engine's, not memcpy's).
/// </summary>
internal sealed class ParkingBackend(long length) : IBackend
{
    /// <summary>The queue id whose requests park.</summary>
    public const int ParkQueue = 1;

    private Executor? _executor;

    public long Length => length;

    public bool IsReadOnly => false;

    public IBackendExecutor CreateExecutor(IBackendCompletion completion) => _executor = new Executor(completion);

    /// <summary>Lands a parked request now (on the calling thread, as a worker would).</summary>
    public void Land(BlockRequest parked) => _executor!.Land(parked);

    public void Dispose()
    {
    }

    private sealed class Executor(IBackendCompletion completion) : IBackendExecutor
    {
        /// <summary>Twice a QD32 batch: never grows in the benchmarks.</summary>
        private readonly Queue<BlockRequest> _done = new(64);

        public void Start(BlockRequest request)
        {
            if (request.QueueId != ParkQueue)
            {
                _done.Enqueue(request);
            }
        }

        public void Poll(bool block)
        {
            while (_done.TryDequeue(out BlockRequest? r))
            {
                completion.Landed(r, r.Op is BlockOp.Read or BlockOp.Write ? r.ByteCount : 0);
            }
        }

        public void Land(BlockRequest parked) => completion.Landed(parked, parked.ByteCount);

        public void Wake()
        {
        }

        public void Dispose()
        {
        }
    }
}

/// <summary>An acknowledgement sink that only checks the result.</summary>
internal sealed class CheckingCompletion : IRequestCompletion
{
    public void Complete(BlockRequest request, int result)
    {
        if (result < 0)
        {
            throw new InvalidOperationException($"{request} failed: {ErrnoExtensions.DescribeResult(result)}");
        }
    }
}
