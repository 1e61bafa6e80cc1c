using LoopOrder.Interop;
using LoopOrder.Queues.Requests;

namespace LoopOrder.Queues.Backends;

/// <summary>
/// A backend whose operations finish only when a test (or the checker's scheduler) says so, in
/// the order it chooses, with the result it chooses: interleavings become deterministic. Started
/// operations wait in <see cref="Pending"/>; <see cref="Complete"/> applies one to the store and
/// reports it. Thread-safe, but meant to be driven from one thread.
/// </summary>
public sealed class ControlledBackend : IBackend
{
    private readonly Lock _gate = new();
    private readonly List<BlockRequest> _pending = [];
    private IBackendCompletion? _completion;

    /// <summary>Creates a zeroed device of <paramref name="length"/> bytes.</summary>
    public ControlledBackend(long length, bool readOnly = false)
    {
        Store = new SectorStore(length);
        IsReadOnly = readOnly;
    }

    /// <summary>The device's bytes as the completed operations left them.</summary>
    public SectorStore Store { get; }

    /// <inheritdoc />
    public long Length => Store.Length;

    /// <inheritdoc />
    public bool IsReadOnly { get; }

    /// <summary>Started operations not yet completed, in start order (a snapshot).</summary>
    public IReadOnlyList<BlockRequest> Pending
    {
        get
        {
            lock (_gate)
            {
                return [.. _pending];
            }
        }
    }

    /// <summary>Number of started, not completed operations.</summary>
    public int PendingCount
    {
        get
        {
            lock (_gate)
            {
                return _pending.Count;
            }
        }
    }

    /// <summary>Finds the pending operation of <paramref name="request"/>, or null.</summary>
    public bool IsPending(BlockRequest request)
    {
        lock (_gate)
        {
            return _pending.Contains(request);
        }
    }

    /// <summary>
    /// Finishes a pending operation: applies it to the store unless <paramref name="error"/> is
    /// given, then reports it.
    /// </summary>
    public void Complete(BlockRequest request, Errno error = Errno.None)
    {
        ArgumentNullException.ThrowIfNull(request);
        IBackendCompletion completion;
        lock (_gate)
        {
            if (!_pending.Remove(request))
            {
                throw new InvalidOperationException($"{request} is not pending");
            }

            completion = _completion!;
        }

        int result = error != Errno.None ? error.ToResult() : Store.Apply(request);
        completion.Landed(request, result);
    }

    /// <summary>Completes the oldest pending operation; false when none is pending.</summary>
    public bool CompleteOldest(Errno error = Errno.None)
    {
        BlockRequest? r;
        lock (_gate)
        {
            r = _pending.Count > 0 ? _pending[0] : null;
        }

        if (r is null)
        {
            return false;
        }

        Complete(r, error);
        return true;
    }

    /// <inheritdoc />
    public IBackendExecutor CreateExecutor(IBackendCompletion completion)
    {
        lock (_gate)
        {
            _completion = completion;
        }

        return new Executor(this);
    }

    /// <inheritdoc />
    public void Dispose() => Store.Dispose();

    private sealed class Executor(ControlledBackend owner) : IBackendExecutor
    {
        public void Start(BlockRequest request)
        {
            lock (owner._gate)
            {
                owner._pending.Add(request);
            }
        }

        public void Poll(bool block)
        {
        }

        public void Wake()
        {
        }

        public void Dispose()
        {
        }
    }
}
