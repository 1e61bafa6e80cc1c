using LoopOrder.Queues.Backends;
using LoopOrder.Queues.Requests;
using LoopOrder.Verification.Faults;

namespace LoopOrder.Verification.Backends;

/// <summary>
/// Wraps any backend and fails the requests a <see cref="FaultPlan"/> picks, for tests of the
/// error paths end to end (the CLI offers it only with <c>--testing</c>). What a hit request
/// suffers is its rule's <see cref="Fault"/>: an EIO or ENOSPC fault is reported without the
/// request ever reaching the inner backend, so the file is untouched; a short write sends only a
/// prefix of the request to the inner backend and, once it lands, fails the request with EIO.
/// Discard and write-zeroes pass through uncounted. Requests are counted per
/// <see cref="FaultTarget"/> across every executor, in the order they start. Owns the inner
/// backend: disposing this disposes it.
/// </summary>
public sealed class FaultInjectingBackend : IBackend
{
    private readonly IBackend _inner;
    private readonly Action<InjectedFault>? _observer;

    /// <summary>Requests seen per <see cref="FaultTarget"/>; Interlocked (several executors count together).</summary>
    private readonly long[] _seen = new long[3];

    private long _injected;

    /// <summary>Injects <paramref name="plan"/>'s faults into <paramref name="inner"/>.</summary>
    /// <param name="inner">The real backend.</param>
    /// <param name="plan">Which requests to fail.</param>
    /// <param name="observer">Told of each fault as it is injected, on the worker thread that started the request; for the log.</param>
    public FaultInjectingBackend(IBackend inner, FaultPlan plan, Action<InjectedFault>? observer = null)
    {
        ArgumentNullException.ThrowIfNull(inner);
        ArgumentNullException.ThrowIfNull(plan);
        _inner = inner;
        Plan = plan;
        _observer = observer;
    }

    /// <summary>Which requests fail.</summary>
    public FaultPlan Plan { get; }

    /// <summary>Faults injected so far.</summary>
    public long Injected => Interlocked.Read(ref _injected);

    /// <inheritdoc />
    public long Length => _inner.Length;

    /// <inheritdoc />
    public bool IsReadOnly => _inner.IsReadOnly;

    /// <inheritdoc />
    public IBackendExecutor CreateExecutor(IBackendCompletion completion)
    {
        ArgumentNullException.ThrowIfNull(completion);
        return new Executor(this, _inner.CreateExecutor(new ShortWriteTap(completion)), completion);
    }

    /// <inheritdoc />
    /// <remarks>The same faults, counted with every other executor's: a write is the n-th write whichever thread runs it.</remarks>
    public IBackendExecutor? CreateSubmitterExecutor(IBackendCompletion completion)
    {
        ArgumentNullException.ThrowIfNull(completion);
        return _inner.CreateSubmitterExecutor(new ShortWriteTap(completion)) is { } inner ? new Executor(this, inner, completion) : null;
    }

    /// <inheritdoc />
    public void Dispose() => _inner.Dispose();

    /// <summary>The fault for <paramref name="r"/>, counting it among its kind; null when it passes through.</summary>
    private FaultRule? Decide(BlockRequest r, out long ordinal)
    {
        FaultTarget? target = r.Op switch
        {
            BlockOp.Read => FaultTarget.Read,
            BlockOp.Write => FaultTarget.Write,
            BlockOp.Flush => FaultTarget.Sync,
            _ => null,
        };
        if (target is not { } t)
        {
            ordinal = 0;
            return null;
        }

        ordinal = Interlocked.Increment(ref _seen[(int)t]);
        return Plan.Decide(t, ordinal);
    }

    private void Report(in InjectedFault fault)
    {
        Interlocked.Increment(ref _injected);
        _observer?.Invoke(fault);
    }

    /// <summary>
    /// The stand-in a short write sends to the inner backend: the original's first sectors, same
    /// buffer. Its completion slot carries the original and its fault back through
    /// <see cref="ShortWriteTap"/>; it never reaches a Sequencer, so <see cref="Complete"/> is
    /// never called.
    /// </summary>
    private sealed class ShortWrite(BlockRequest original, Fault fault) : IRequestCompletion
    {
        public BlockRequest Original => original;

        public Fault Fault => fault;

        public void Complete(BlockRequest request, int result) =>
            throw new InvalidOperationException("a short write's prefix is reported through its original request");
    }

    /// <summary>Turns a landed prefix back into its original request, failed with the fault's errno (or the prefix's own error).</summary>
    private sealed class ShortWriteTap(IBackendCompletion next) : IBackendCompletion
    {
        public void Landed(BlockRequest request, int result)
        {
            if (request.Completion is ShortWrite s)
            {
                next.Landed(s.Original, result < 0 ? result : s.Fault.Result);
            }
            else
            {
                next.Landed(request, result);
            }
        }
    }

    private sealed class Executor(FaultInjectingBackend owner, IBackendExecutor inner, IBackendCompletion completion) : IBackendExecutor
    {
        /// <summary>
        /// Failed without the inner backend, reported by the next poll (not from Start: a report
        /// may release and start more requests, which must not recurse into Start). Owner thread only.
        /// </summary>
        private readonly Queue<(BlockRequest Request, int Result)> _failed = new();

        public void Start(BlockRequest request)
        {
            if (owner.Decide(request, out long ordinal) is not { } rule)
            {
                inner.Start(request);
                return;
            }

            Fault fault = Fault.Of(rule.Effect, request.SectorCount);
            owner.Report(new InjectedFault(rule, fault, ordinal, request.Op, request.StartSector, request.SectorCount));
            if (fault.LandedSectors == 0)
            {
                _failed.Enqueue((request, fault.Result));
                return;
            }

            // A fault is rare: allocating its stand-in is not on the I/O path's budget.
            var stand = new BlockRequest(request.QueueId, request.Tag, new ShortWrite(request, fault)) { Node = request.Node };
            stand.Prepare(BlockOp.Write, request.Flags, request.StartSector, fault.LandedSectors, request.Buffer);
            inner.Start(stand);
        }

        public void Poll(bool block)
        {
            if (_failed.Count == 0)
            {
                inner.Poll(block);
                return;
            }

            // A report may release more requests (inline dispatch starts them at once), which may
            // fail too or go to the inner backend: poll and report until neither has anything new.
            bool reported;
            do
            {
                inner.Poll(block: false);
                reported = false;
                while (_failed.TryDequeue(out (BlockRequest Request, int Result) f))
                {
                    completion.Landed(f.Request, f.Result);
                    reported = true;
                }
            }
            while (reported);
        }

        public void Wake() => inner.Wake();

        public void Dispose() => inner.Dispose();
    }
}
