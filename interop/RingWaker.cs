using System.Runtime.InteropServices;
using LoopOrder.Interop.Uring;

namespace LoopOrder.Interop;

/// <summary>
/// Wakes a thread that sleeps in its io_uring (io_uring_enter waiting for a CQE): a blocking
/// eventfd read stays armed in the owner's ring, and producers write the eventfd only when the
/// owner is (about to be) blocked, decided by a <see cref="SleepGate"/> (whose remarks hold the
/// protocol and why no wake is lost).
/// </summary>
/// <remarks>
/// <para>The owner's turn of its loop:</para>
/// <code>
/// waker.Arm(ring);                       // once; again after its CQE came back
/// if (waker.TryBeginSleep())             // false: a wake is pending, go round
/// {
///     // (owners woken by WakeIfSleeping look at their work here, EndSleep and go round if any)
///     ring.SubmitAndWait(1);             // a CQE, or the eventfd read completing
///     waker.EndSleep();
/// }
/// // reaping: if (waker.TryComplete(cqe.user_data)) the CQE was the wake read's
/// </code>
/// <para>
/// Producers call <see cref="Wake"/> or <see cref="WakeIfSleeping"/> after publishing their work;
/// <see cref="ForceWake"/> writes the eventfd unconditionally (stop and abort paths, and to
/// complete the armed read before the ring is torn down).
/// </para>
/// <para>
/// The eventfd is blocking: io_uring then always parks the read until a signal (see
/// <see cref="EventFd"/>). The 8 bytes the read lands in are native memory, because the kernel
/// writes them asynchronously; while the read is armed they are never freed (a ring closed with
/// the read in it cancels it asynchronously), so <see cref="Dispose"/> leaks them then.
/// </para>
/// <para>Threading: the owner methods (<see cref="Arm"/>, <see cref="TryComplete"/>,
/// <see cref="TryBeginSleep"/>, <see cref="EndSleep"/>, <see cref="SleepWithoutRing"/>,
/// <see cref="IsArmed"/>) run on the ring's thread only; the wake methods on any thread.</para>
/// </remarks>
public sealed unsafe class RingWaker : IDisposable
{
    /// <summary>The default user_data of the armed read: far above any slot or tag index.</summary>
    public const ulong DefaultUserData = ulong.MaxValue;

    private readonly SleepGate _gate = new();
    private readonly EventFd _eventFd;

    /// <summary>Where the armed read lands.</summary>
    private readonly ulong* _counter;
    private bool _disposed;

    /// <summary>Creates the eventfd and the read's landing place; nothing is armed yet.</summary>
    /// <param name="userData">The user_data of the armed read's SQE, distinct from every other in the ring.</param>
    /// <exception cref="ErrnoException">eventfd failed (EMFILE, ENOMEM).</exception>
    public RingWaker(ulong userData = DefaultUserData)
    {
        UserData = userData;

        // Blocking: a ring read on a non-blocking eventfd may complete at once with -EAGAIN.
        _eventFd = new EventFd(nonBlocking: false);
        _counter = (ulong*)NativeMemory.AlignedAlloc(sizeof(ulong), sizeof(ulong));
        *_counter = 0;
    }

    /// <summary>The user_data of the armed read's CQE.</summary>
    public ulong UserData { get; }

    /// <summary>True while the read is in the ring (owner thread): the kernel may still write its 8 bytes.</summary>
    public bool IsArmed { get; private set; }

    /// <summary>True while the owner is (about to be) blocked. Any thread; for tests and diagnostics.</summary>
    public bool IsSleeping => _gate.IsSleeping;

    /// <summary>
    /// Owner: puts the eventfd read in <paramref name="ring"/>'s SQ unless it is there already;
    /// the next submit hands it to the kernel. When the SQ is full, submits once to make room.
    /// </summary>
    /// <param name="ring">The owner's ring; its SQ must keep one entry for this read.</param>
    /// <exception cref="InvalidOperationException">The SQ is still full after a submit.</exception>
    public void Arm(IoUring ring)
    {
        ArgumentNullException.ThrowIfNull(ring);
        if (IsArmed)
        {
            return;
        }

        if (!ring.TryGetSqe(out io_uring_sqe* sqe))
        {
            ring.Submit();
            if (!ring.TryGetSqe(out sqe))
            {
                throw new InvalidOperationException("io_uring SQ still full after a submit; no room for the wake read.");
            }
        }

        UringPrep.ReadEventFd(sqe, _eventFd.Fd, _counter, UserData);
        IsArmed = true;
    }

    /// <summary>
    /// Owner, for each reaped CQE: true when <paramref name="userData"/> is the wake read's, which
    /// is then no longer armed (re-arm before the next sleep). Its result needs no action: a
    /// signal, or -ECANCELED as the ring closes.
    /// </summary>
    /// <param name="userData">The CQE's user_data.</param>
    public bool TryComplete(ulong userData)
    {
        if (userData != UserData)
        {
            return false;
        }

        IsArmed = false;
        return true;
    }

    /// <summary>Owner: see <see cref="SleepGate.TryBeginSleep"/>. Arm the read first.</summary>
    public bool TryBeginSleep() => _gate.TryBeginSleep();

    /// <summary>Owner: see <see cref="SleepGate.EndSleep"/>.</summary>
    public void EndSleep() => _gate.EndSleep();

    /// <summary>
    /// Owner without a ring (none could be made): blocks on the eventfd itself until a wake, unless
    /// one is pending. The read must not be armed in a ring at the same time.
    /// </summary>
    public void SleepWithoutRing()
    {
        if (!_gate.TryBeginSleep())
        {
            return;
        }

        _eventFd.TryRead(out _);
        _gate.EndSleep();
    }

    /// <summary>
    /// Producer, after publishing its work: makes the owner's current or next sleep end (sticky,
    /// see <see cref="SleepGate.Wake"/>); writes the eventfd only when the owner is (about to be)
    /// blocked. True when it wrote it.
    /// </summary>
    public bool Wake()
    {
        if (!_gate.Wake())
        {
            return false;
        }

        _eventFd.Signal();
        return true;
    }

    /// <summary>
    /// Producer, after publishing its work, for an owner that looks at its work after
    /// <see cref="TryBeginSleep"/>: writes the eventfd only when the owner is (about to be) blocked
    /// and no other producer did (see <see cref="SleepGate.WakeIfSleeping"/>). True when it wrote it.
    /// </summary>
    public bool WakeIfSleeping()
    {
        if (!_gate.WakeIfSleeping())
        {
            return false;
        }

        _eventFd.Signal();
        return true;
    }

    /// <summary>Any thread: writes the eventfd whatever the state, completing the armed read (or the next one).</summary>
    /// <exception cref="ObjectDisposedException">The waker was disposed.</exception>
    public void ForceWake()
    {
        // A closed eventfd's number may already name another file.
        ObjectDisposedException.ThrowIf(_disposed, this);
        _eventFd.Signal();
    }

    /// <summary>
    /// Closes the eventfd; frees the read's 8 bytes unless the read is still armed (the kernel may
    /// still write them). Call after the owner is done with the ring.
    /// </summary>
    public void Dispose()
    {
        if (_disposed)
        {
            return;
        }

        _disposed = true;
        _eventFd.Dispose();
        if (!IsArmed)
        {
            NativeMemory.AlignedFree(_counter);
        }
    }
}
