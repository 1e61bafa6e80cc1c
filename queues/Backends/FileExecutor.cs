using System.Diagnostics;
using LoopOrder.Interop;
using LoopOrder.Interop.Uring;
using LoopOrder.Queues.Requests;

namespace LoopOrder.Queues.Backends;

/// <summary>
/// Runs a <see cref="FileBackend"/>'s operations for one thread: checks each request, writes
/// buffered non-FUA writes inline (<see cref="InlineWriter"/>) and sends everything else through
/// the thread's own io_uring (<see cref="FileRing"/>). <see cref="Start"/> only queues or
/// prepares; <see cref="Poll"/> submits everything in one io_uring_enter, writes the inline
/// writes while the device works, and reaps, so one thread keeps up to RingEntries operations in
/// flight and pays one syscall per batch rather than one per operation. Why a ring per worker
/// and inline buffered writes: bench/results/NOTES.md, "FileExecutor: io_uring per worker,
/// buffered writes inline".
/// </summary>
/// <remarks>
/// <para>
/// <b>Two modes.</b> A worker's executor makes its ring on its first <see cref="Start"/> or
/// <see cref="Poll"/> that needs it, on the thread that will own it; if the kernel refuses, every
/// request that needs the ring fails with the ring's errno, and inline writes still run. A
/// submitting thread's executor (<see cref="FileBackend.CreateSubmitterExecutor"/>,
/// <c>writesOnly</c>) never makes a ring: it runs only the inline writes and fails anything else
/// with EOPNOTSUPP, rather than wait on a disk from a thread that must not wait.
/// </para>
/// <para>
/// <b>Wake.</b> A <see cref="RingWaker"/>: <see cref="Wake"/> writes its eventfd only when the
/// owner is (about to be) asleep in io_uring_enter (or, without a ring, in a read of the eventfd
/// itself); otherwise it leaves a wake that the next blocking <see cref="Poll"/> takes instead of
/// sleeping. The eventfd read is armed in the ring before the first sleep and re-armed after it
/// fires.
/// </para>
/// </remarks>
internal sealed class FileExecutor : IBackendExecutor
{
    private readonly FileBackend _backend;
    private readonly IBackendCompletion _completion;

    /// <summary>Requests finished without the ring (rejected, or a flush after the latch): reported by the next poll.</summary>
    private readonly Queue<Finished> _finished = new(FileRing.OverflowCapacity);

    /// <summary>Buffered non-FUA writes, when they run inline (see <see cref="FileBackend.WritesInline"/>); null otherwise.</summary>
    private readonly InlineWriter? _inline;

    /// <summary>True for a submitting thread's executor: no ring, ever (see the type remarks).</summary>
    private readonly bool _writesOnly;

    private readonly RingWaker _waker = new();

    private FileRing? _ring;
    private Errno _ringErrno;
    private int _ownerThread;
    private bool _polling;
    private bool _disposed;
    private long _lastSizeCheck;

    /// <summary>Creates an executor; its ring, if it has one, is made later, on the owner thread.</summary>
    /// <param name="backend">The file.</param>
    /// <param name="completion">Where finished requests are reported.</param>
    /// <param name="writesOnly">A submitting thread's executor: inline writes only, never a ring (see the type remarks).</param>
    internal FileExecutor(FileBackend backend, IBackendCompletion completion, bool writesOnly = false)
    {
        _backend = backend;
        _completion = completion;
        _inline = backend.WritesInline ? new InlineWriter(backend) : null;
        Debug.Assert(_inline is not null || !writesOnly, "a writes-only executor needs inline writes");
        _writesOnly = writesOnly;
    }

    /// <summary>Operations in flight (holding a ring slot).</summary>
    internal int InFlight => _ring?.InFlight ?? 0;

    /// <summary>Requests waiting for a ring slot or for the next poll to write them inline.</summary>
    internal int Queued => (_ring?.Queued ?? 0) + (_inline?.Queued ?? 0);

    /// <summary>True when the ring runs with SINGLE_ISSUER | DEFER_TASKRUN.</summary>
    internal bool DeferTaskrun => _ring?.DeferTaskrun ?? false;

    /// <inheritdoc />
    public void Start(BlockRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        ObjectDisposedException.ThrowIf(_disposed, this);
        int error = _backend.CheckStart(request, ref _lastSizeCheck);

        if (error == 0 && _inline is not null && request.IsPlainWrite)
        {
            _inline.Enqueue(request);
            return;
        }

        if (error == 0 && _writesOnly)
        {
            // Everything but a buffered write waits on the disk; a submitting thread must not.
            error = Errno.EOPNOTSUPP.ToResult();
        }
        else if (error == 0 && !EnsureRing())
        {
            error = _ringErrno.ToResult();
        }

        if (error != 0)
        {
            _finished.Enqueue(new Finished(request, error));
        }
        else
        {
            _ring!.Start(request);
        }
    }

    /// <inheritdoc />
    public void Poll(bool block)
    {
        // A completion callback that polls again would reap inside the reap loop; its work is
        // already covered by the poll that is running.
        if (_polling || _disposed)
        {
            return;
        }

        _polling = true;
        try
        {
            if (_ring is null && (_writesOnly || !EnsureRing()))
            {
                PollWithoutRing(block);
            }
            else
            {
                PollRing(_ring!, block);
            }
        }
        finally
        {
            _polling = false;
        }
    }

    /// <inheritdoc />
    public void Wake() => _waker.Wake();

    /// <summary>
    /// Waits (on the owner thread) for what is in flight to finish without reporting it, then
    /// closes the ring. Requests still queued are dropped unreported: dispose at shutdown only.
    /// </summary>
    public void Dispose()
    {
        if (_disposed)
        {
            return;
        }

        _disposed = true;
        if (_ring is not null)
        {
            if (Environment.CurrentManagedThreadId == _ownerThread)
            {
                _ring.Drain();
            }

            _ring.Dispose();
        }

        // A read still armed keeps its 8 bytes: the ring's asynchronous teardown may still target them.
        _waker.Dispose();
    }

    /// <summary>Without a ring: writes the inline writes, reports, and sleeps on the eventfd itself when there was nothing.</summary>
    private void PollWithoutRing(bool block)
    {
        int reported = ReportFinished();
        reported += _inline?.WriteAll(_finished) ?? 0;
        reported += ReportFinished();
        if (block && reported == 0)
        {
            _waker.SleepWithoutRing();
        }
    }

    private void PollRing(FileRing fileRing, bool block)
    {
        IoUring ring = fileRing.Ring;
        int reported = ReportFinished();
        fileRing.Refill();
        if (_inline is { Queued: > 0 } inline)
        {
            // Hand the ring its work first, so the device runs while this thread copies.
            if (ring.SqPending > 0)
            {
                ring.Submit();
            }

            reported += inline.WriteAll(_finished);
        }

        bool wait = block && reported == 0 && _finished.Count == 0 && ring.CqReady == 0;
        if (wait)
        {
            _waker.Arm(ring);

            // False when a wake is pending: it is taken, and this poll returns without sleeping.
            wait = _waker.TryBeginSleep();
        }

        if (wait)
        {
            ring.SubmitAndWait(1);

            // This poll returns now, which is what any wake that raced with the wait asked for.
            _waker.EndSleep();
        }
        else if (ring.SqPending > 0 || fileRing.InFlight > 0 || _waker.IsArmed)
        {
            // Enters the kernel only when there are SQEs, or completions waiting to be
            // processed (the TASKRUN flag) or left on the overflow list.
            ring.Submit();
        }

        fileRing.Reap();
        fileRing.Refill();
        ReportFinished();
    }

    private int ReportFinished()
    {
        int n = 0;

        // A report may start (and so finish) more; the loop takes those too.
        while (_finished.TryDequeue(out Finished f))
        {
            _completion.Landed(f.Request, f.Result);
            n++;
        }

        return n;
    }

    /// <summary>Makes the ring on first need, on this (the owner) thread; false once it could not be made.</summary>
    private bool EnsureRing()
    {
        if (_ring is not null)
        {
            return true;
        }

        if (_ringErrno != Errno.None)
        {
            return false;
        }

        // Reported as each request's result (ENOMEM, EMFILE, ...): Start must not throw into the engine.
        _ring = FileRing.TryCreate(_backend, _completion, _waker, _finished, out _ringErrno);
        _ownerThread = Environment.CurrentManagedThreadId;
        return _ring is not null;
    }

    /// <summary>A request finished without a ring slot, and its result.</summary>
    internal readonly record struct Finished(BlockRequest Request, int Result);
}
