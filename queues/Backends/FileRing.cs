using System.Numerics;
using LoopOrder.Interop;
using LoopOrder.Interop.Uring;
using LoopOrder.Queues.Requests;

namespace LoopOrder.Queues.Backends;

/// <summary>
/// The ring core of a <see cref="FileExecutor"/>: one io_uring on the owner thread, a slot per
/// operation in flight, and the queue of requests waiting for a slot. <see cref="Start"/> only
/// prepares SQEs; the executor's poll submits them all in one io_uring_enter and
/// <see cref="Reap"/> acts on every CQE. What each operation's steps are, and what a CQE means
/// for them, is in FileRing.Steps.cs.
/// </summary>
/// <remarks>
/// <para>
/// <b>Slots.</b> Each operation in flight owns a slot of a preallocated array; the slot's index is
/// the SQE's user_data, so a completion finds its request without allocation or a handle table.
/// One SQ entry is kept back for the <see cref="RingWaker"/>'s armed read, so the SQ and CQ (twice
/// the SQ) can never overflow. Requests started while every slot is busy wait in a preallocated
/// overflow queue and take slots as they free up.
/// </para>
/// <para>
/// <b>Thread.</b> Made by <see cref="TryCreate"/> on the thread that will own it (SINGLE_ISSUER |
/// DEFER_TASKRUN where the kernel has them: completions are then processed only inside our
/// io_uring_enter, never by interrupting task work). Only that thread touches it.
/// </para>
/// </remarks>
internal sealed unsafe partial class FileRing : IDisposable
{
    /// <summary>
    /// Requests the overflow queue holds before it has to grow: a ublk queue has at most 4096 tags
    /// but runs at depth 64-128, so with the ring's slots this covers several queues at full depth
    /// without ever allocating.
    /// </summary>
    internal const int OverflowCapacity = 1024;

    private readonly FileBackend _backend;
    private readonly IBackendCompletion _completion;
    private readonly FileBackendHooks? _hooks;
    private readonly int _fd;
    private readonly IoUring _ring;
    private readonly RingWaker _waker;

    /// <summary>The executor's queue of requests finished without a slot, reported by its next poll.</summary>
    private readonly Queue<FileExecutor.Finished> _finished;
    private readonly Slot[] _slots;
    private readonly int[] _free;
    private readonly Queue<BlockRequest> _overflow = new(OverflowCapacity);
    private int _freeCount;
    private int _inFlight;

    private FileRing(FileBackend backend, IBackendCompletion completion, RingWaker waker, Queue<FileExecutor.Finished> finished, IoUring ring, uint entries)
    {
        _backend = backend;
        _completion = completion;
        _hooks = backend.Hooks;
        _fd = backend.Fd;
        _waker = waker;
        _finished = finished;
        _ring = ring;
        int slots = (int)entries - 1;
        _slots = new Slot[slots];
        _free = new int[slots];
        for (int i = 0; i < slots; i++)
        {
            _free[i] = slots - 1 - i;
        }

        _freeCount = slots;
    }

    /// <summary>The io_uring itself, for the executor's submit and wait.</summary>
    internal IoUring Ring => _ring;

    /// <summary>Operations in flight (holding a slot).</summary>
    internal int InFlight => _inFlight;

    /// <summary>Requests waiting for a slot.</summary>
    internal int Queued => _overflow.Count;

    /// <summary>True when the ring runs with SINGLE_ISSUER | DEFER_TASKRUN.</summary>
    internal bool DeferTaskrun => (_ring.Flags & IoUringSetupFlags.DeferTaskrun) != 0;

    /// <summary>
    /// Makes the ring on the calling thread (SINGLE_ISSUER binds it to its creator). Null, with
    /// the errno, when the kernel refuses (ENOMEM, EMFILE, ...): the executor reports that as
    /// each request's result, since starting a request must not throw into the engine.
    /// </summary>
    /// <param name="backend">The file.</param>
    /// <param name="completion">Where finished operations are reported.</param>
    /// <param name="waker">The executor's waker, whose read this ring carries.</param>
    /// <param name="finished">The executor's queue for requests finished without a slot.</param>
    /// <param name="errno">Why there is no ring.</param>
    internal static FileRing? TryCreate(FileBackend backend, IBackendCompletion completion, RingWaker waker, Queue<FileExecutor.Finished> finished, out Errno errno)
    {
        uint entries = BitOperations.RoundUpToPowerOf2((uint)backend.RingEntries);
        try
        {
            IoUring ring = IoUring.CreateWithFallback(
                entries,
                IoUringSetupFlags.None,
                backend.Hooks?.OptionalRingFlags ?? (IoUringSetupFlags.SubmitAll | IoUringSetupFlags.SingleIssuer | IoUringSetupFlags.DeferTaskrun | IoUringSetupFlags.TaskrunFlag),
                cqEntries: entries * 2);
            errno = Errno.None;
            return new FileRing(backend, completion, waker, finished, ring, entries);
        }
        catch (ErrnoException e)
        {
            errno = e.Errno;
            return null;
        }
    }

    /// <summary>Takes a slot for <paramref name="request"/> (its SQE goes out with the next submit), or queues it until one frees.</summary>
    internal void Start(BlockRequest request)
    {
        if (_freeCount == 0 || _overflow.Count > 0)
        {
            _overflow.Enqueue(request);
        }
        else
        {
            Launch(request);
        }
    }

    /// <summary>Moves queued requests into free slots, oldest first.</summary>
    internal void Refill()
    {
        while (_freeCount > 0 && _overflow.TryDequeue(out BlockRequest? r))
        {
            Launch(r);
        }
    }

    /// <summary>Acts on every CQE there is: the waker's read, or a step of an operation.</summary>
    internal void Reap()
    {
        while (_ring.TryPeekCqe(out io_uring_cqe cqe))
        {
            _ring.AdvanceCq(1);
            if (_waker.TryComplete(cqe.user_data))
            {
                // Re-armed by the next blocking poll; whatever the result, the wake did its job.
                continue;
            }

            Complete((int)cqe.user_data, cqe.res);
        }
    }

    /// <summary>
    /// Waits (on the owner thread) for what is in flight, and the waker's read, to finish without
    /// reporting it. Requests still queued are dropped unreported: at shutdown only.
    /// </summary>
    internal void Drain()
    {
        if (_waker.IsArmed)
        {
            _waker.ForceWake();
        }

        while (_inFlight > 0 || _waker.IsArmed)
        {
            _ring.SubmitAndWait(1);
            while (_ring.TryPeekCqe(out io_uring_cqe cqe))
            {
                _ring.AdvanceCq(1);
                if (!_waker.TryComplete(cqe.user_data))
                {
                    _slots[(int)cqe.user_data].Request = null;
                    _inFlight--;
                }
            }
        }
    }

    /// <inheritdoc />
    public void Dispose() => _ring.Dispose();

    private io_uring_sqe* NextSqe()
    {
        if (!_ring.TryGetSqe(out io_uring_sqe* sqe))
        {
            // Cannot happen while each slot holds at most one SQE (the SQ has a spare for the
            // wake read), but submitting frees the whole SQ if it ever does.
            _ring.Submit();
            if (!_ring.TryGetSqe(out sqe))
            {
                throw new InvalidOperationException("io_uring SQ still full after a submit.");
            }
        }

        return sqe;
    }

    private void Finish(int i, int result)
    {
        ref Slot s = ref _slots[i];
        BlockRequest r = s.Request!;
        s.Request = null;
        _free[_freeCount++] = i;
        _inFlight--;
        _completion.Landed(r, result);
    }

    /// <summary>One operation in flight.</summary>
    private struct Slot
    {
        /// <summary>The request, or null when the slot is free.</summary>
        public BlockRequest? Request;

        /// <summary>Bytes already zeroed (<see cref="Step.Zeroing"/>); a long, since a discard may exceed 2 GiB.</summary>
        public long Done;

        /// <summary>fallocate mode for <see cref="Step.Fallocate"/>.</summary>
        public int Mode;

        /// <summary>The step in progress.</summary>
        public Step Step;
    }
}
