using LoopOrder.Queues.Backends;
using LoopOrder.Queues.Requests;
using LoopOrder.Verification.Faults;

namespace LoopOrder.Verification.Backends;

/// <summary>
/// A backend whose operations finish only when a test (or the checker's scheduler) says so, in
/// the order it chooses, with the result it chooses: interleavings become deterministic. Started
/// operations wait in <see cref="Pending"/>; <see cref="Complete"/> applies one to the store and
/// reports it. Thread-safe, but meant to be driven from one thread.
/// </summary>
public sealed unsafe class ControlledBackend : IBackend
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
    /// Finishes a pending operation: applies it to the store and reports its result, or, given a
    /// <paramref name="fault"/>, lands the fault's prefix of a write (never all of it) and reports
    /// the fault's errno.
    /// </summary>
    public void Complete(BlockRequest request, Fault fault = default)
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

        completion.Landed(request, fault.IsNone ? Store.Apply(request) : Fail(request, fault));
    }

    /// <summary>Completes the oldest pending operation, maybe with a fault; false when none is pending.</summary>
    public bool CompleteOldest(Fault fault = default)
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

        Complete(r, fault);
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

    /// <summary>Lands the prefix a short write keeps (fewer sectors than the write's), then returns the fault's result.</summary>
    private int Fail(BlockRequest r, Fault fault)
    {
        uint landed = r.Op == BlockOp.Write && r.SectorCount > 1 ? Math.Min(fault.LandedSectors, r.SectorCount - 1) : 0;
        if (landed > 0)
        {
            int bytes = (int)(landed << BlockRequest.SectorShift);
            new ReadOnlySpan<byte>((void*)r.Buffer.Address, bytes).CopyTo(Store.Bytes(r.ByteOffset, bytes));
        }

        return fault.Result;
    }

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
