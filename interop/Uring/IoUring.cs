using System.Diagnostics;
using System.Globalization;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using LoopOrder.Interop.Native;

namespace LoopOrder.Interop.Uring;

/// <summary>
/// One io_uring instance: the SQ and CQ rings and the SQE array mapped into this process, with
/// allocation-free ways to fill SQEs, submit them and reap completions.
/// </summary>
/// <remarks>
/// <para>
/// <b>One thread owns a ring</b>: the thread that constructs it, and only that thread, may call
/// <see cref="TryGetSqe"/>, <see cref="Submit"/>, <see cref="SubmitAndWait"/> and the reaping
/// members. Nothing here is locked; the local SQ/CQ indices would be corrupted by a second
/// thread, and with <see cref="IoUringSetupFlags.SingleIssuer"/> the kernel itself refuses any
/// other submitter with EEXIST. Debug builds assert the owner. Other threads wake the owner
/// through an <see cref="EventFd"/> read armed in the ring, or an IORING_OP_MSG_RING from their
/// own ring (<see cref="UringPrep.MsgRing"/>). <see cref="Dispose"/> may run on any thread once
/// the owner has stopped using the ring.
/// </para>
/// <para>
/// <b>Cycle</b>: <see cref="TryGetSqe"/> hands out a zeroed slot (false when the SQ is full:
/// submit, then reap, then retry); a <see cref="UringPrep"/> method fills it; <see cref="Submit"/>
/// or <see cref="SubmitAndWait"/> publishes every prepared SQE and enters the kernel;
/// <see cref="TryPeekCqe"/> + <see cref="AdvanceCq"/>, or <see cref="Reap"/>, consume completions.
/// Reap promptly: completions beyond the CQ size are held by the kernel (IORING_FEAT_NODROP)
/// and make io_uring_enter answer EBUSY until the CQ is drained.
/// </para>
/// <para>
/// Buffers named by in-flight operations must stay valid until their CQE is reaped, even across
/// <see cref="Dispose"/>: closing the ring cancels requests asynchronously.
/// </para>
/// </remarks>
public sealed unsafe class IoUring : IDisposable
{
    private readonly SafeFileDescriptor _ringFd;
    private readonly SafeMmapHandle _sqRingMap;
    private readonly SafeMmapHandle? _cqRingMap; // null when the CQ ring shares the SQ ring's mapping
    private readonly SafeMmapHandle _sqeMap;
    private readonly int _fd;
    private readonly int _ownerThreadId;

    // Submission side. The kernel advances *_kSqHead as it consumes SQEs; we advance *_kSqTail.
    private readonly uint* _kSqHead;
    private readonly uint* _kSqTail;
    private readonly uint* _kSqFlags;
    private readonly uint* _kSqDropped;
    private readonly uint _sqMask;
    private readonly byte* _sqes;
    private readonly int _sqeShift; // log2 of the SQE size: 6, or 7 with SQE128
    private uint _sqeTail; // SQEs handed out by TryGetSqe
    private uint _sqePublished; // the value last stored to *_kSqTail

    // Completion side. The kernel advances *_kCqTail as it posts; we advance *_kCqHead.
    private readonly uint* _kCqHead;
    private readonly uint* _kCqTail;
    private readonly uint* _kCqOverflow;
    private readonly uint _cqMask;
    private readonly byte* _cqes;
    private readonly int _cqeShift; // log2 of the CQE size: 4, or 5 with CQE32
    private uint _cqHead; // our copy of *_kCqHead: only we write it, so it never needs re-reading

    private bool _disposed;

    /// <summary>Sets up a ring owned by the calling thread.</summary>
    /// <param name="entries">SQ size, 1..32768; the kernel rounds it up to a power of two.</param>
    /// <param name="flags">IORING_SETUP_* flags, passed through as given (plus CqSize when <paramref name="cqEntries"/> is set).</param>
    /// <param name="cqEntries">CQ size; 0 lets the kernel pick twice the SQ size.</param>
    /// <exception cref="ErrnoException">
    /// io_uring_setup or a ring mmap failed. EINVAL usually means this kernel does not know one of
    /// <paramref name="flags"/> (see <see cref="CreateWithFallback(uint, IoUringSetupFlags, IoUringSetupFlags, uint)"/>); EPERM or ENOSYS that io_uring
    /// is disabled (sysctl kernel.io_uring_disabled, seccomp, or a kernel without it).
    /// </exception>
    public IoUring(uint entries, IoUringSetupFlags flags = IoUringSetupFlags.None, uint cqEntries = 0)
    {
        ArgumentOutOfRangeException.ThrowIfZero(entries);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(entries, IoUringAbi.MaxEntries);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(cqEntries, IoUringAbi.MaxCqEntries);
        if ((flags & IoUringSetupFlags.SqPoll) != 0)
        {
            // Submitting to an SQPOLL ring needs the NEED_WAKEUP handshake, which this type does not do.
            throw new ArgumentException("IORING_SETUP_SQPOLL is not supported.", nameof(flags));
        }

        if (cqEntries != 0)
        {
            flags |= IoUringSetupFlags.CqSize;
        }

        io_uring_params p = default;
        p.flags = (uint)flags;
        p.cq_entries = cqEntries;
        int fd = Libc.io_uring_setup(entries, &p);
        if (fd < 0)
        {
            Errno errno = ErrnoExtensions.LastPInvokeError();
            throw SetupError(errno, entries, flags, cqEntries);
        }

        _ringFd = new SafeFileDescriptor(fd, ownsHandle: true, "io_uring");
        _fd = fd;
        try
        {
            Flags = flags;
            Features = (IoUringFeatures)p.features;
            SqEntries = p.sq_entries;
            CqEntries = p.cq_entries;
            _sqeShift = (flags & IoUringSetupFlags.Sqe128) != 0 ? 7 : 6;
            _cqeShift = (flags & IoUringSetupFlags.Cqe32) != 0 ? 5 : 4;

            bool noSqArray = (flags & IoUringSetupFlags.NoSqArray) != 0;
            // Without the index array (NO_SQARRAY, 6.6+, where SINGLE_MMAP always holds) the SQ
            // ring is only the shared header, which the CQ ring's size below already covers.
            nuint sqRingSize = noSqArray ? 0 : p.sq_off.array + ((nuint)p.sq_entries * sizeof(uint));
            nuint cqRingSize = p.cq_off.cqes + ((nuint)p.cq_entries << _cqeShift);
            bool singleMmap = (Features & IoUringFeatures.SingleMmap) != 0;
            if (singleMmap)
            {
                // One mapping serves both rings (5.4+): it must cover the larger of the two.
                sqRingSize = Math.Max(sqRingSize, cqRingSize);
            }

            _sqRingMap = SafeMmapHandle.MapShared(_ringFd, IoUringAbi.OffSqRing, sqRingSize, writable: true, populate: true, "io_uring SQ ring");
            byte* sq = _sqRingMap.Pointer;
            byte* cq;
            if (singleMmap)
            {
                cq = sq;
            }
            else
            {
                _cqRingMap = SafeMmapHandle.MapShared(_ringFd, IoUringAbi.OffCqRing, cqRingSize, writable: true, populate: true, "io_uring CQ ring");
                cq = _cqRingMap.Pointer;
            }

            _sqeMap = SafeMmapHandle.MapShared(_ringFd, IoUringAbi.OffSqes, (nuint)p.sq_entries << _sqeShift, writable: true, populate: true, "io_uring SQEs");
            _sqes = _sqeMap.Pointer;

            _kSqHead = (uint*)(sq + p.sq_off.head);
            _kSqTail = (uint*)(sq + p.sq_off.tail);
            _kSqFlags = (uint*)(sq + p.sq_off.flags);
            _kSqDropped = (uint*)(sq + p.sq_off.dropped);
            _sqMask = *(uint*)(sq + p.sq_off.ring_mask);
            if (!noSqArray)
            {
                // The SQ ring holds indices into the SQE array. Mapping slot i to SQE i once, here,
                // means submission never writes the array again: the slot we fill is tail & mask,
                // and the kernel reads array[tail & mask] == the same slot.
                uint* array = (uint*)(sq + p.sq_off.array);
                for (uint i = 0; i < p.sq_entries; i++)
                {
                    array[i] = i;
                }
            }

            _kCqHead = (uint*)(cq + p.cq_off.head);
            _kCqTail = (uint*)(cq + p.cq_off.tail);
            _kCqOverflow = (uint*)(cq + p.cq_off.overflow);
            _cqMask = *(uint*)(cq + p.cq_off.ring_mask);
            _cqes = cq + p.cq_off.cqes;

            // Both start at 0 on a new ring, but reading them keeps this honest if that ever changes.
            _sqeTail = _sqePublished = *_kSqTail;
            _cqHead = *_kCqHead;
        }
        catch
        {
            _sqeMap?.Dispose();
            _cqRingMap?.Dispose();
            _sqRingMap?.Dispose();
            _ringFd.Dispose();
            throw;
        }

        _ownerThreadId = Environment.CurrentManagedThreadId;
    }

    /// <summary>
    /// Sets up a ring with <paramref name="required"/> | <paramref name="optional"/>, and if the
    /// kernel refuses with EINVAL (an unknown flag, e.g. DEFER_TASKRUN before 6.1), once more with
    /// <paramref name="required"/> alone. <see cref="Flags"/> tells which one was made.
    /// </summary>
    /// <param name="entries">SQ size.</param>
    /// <param name="required">Flags the caller cannot do without (e.g. Sqe128 for the ublk control ring).</param>
    /// <param name="optional">Flags that only make it faster (SingleIssuer, CoopTaskrun or DeferTaskrun).</param>
    /// <param name="cqEntries">CQ size; 0 for the default.</param>
    /// <exception cref="ErrnoException">Setup failed even with <paramref name="required"/> alone.</exception>
    public static IoUring CreateWithFallback(uint entries, IoUringSetupFlags required, IoUringSetupFlags optional, uint cqEntries = 0) =>
        CreateWithFallback(entries, required, optional, IoUringSetupFlags.None, cqEntries);

    /// <summary>
    /// As <see cref="CreateWithFallback(uint, IoUringSetupFlags, IoUringSetupFlags, uint)"/>, with a
    /// second choice of optional flags between the first and none: <paramref name="required"/> |
    /// <paramref name="preferred"/>, then <paramref name="required"/> | <paramref name="fallback"/>
    /// (e.g. COOP_TASKRUN where DEFER_TASKRUN is unknown), then <paramref name="required"/> alone,
    /// each tried only after the kernel refused the one before with EINVAL. An optional
    /// DEFER_TASKRUN becomes COOP_TASKRUN where <see cref="DeferTaskrunGate"/> says so.
    /// </summary>
    /// <exception cref="ErrnoException">Setup failed even with <paramref name="required"/> alone.</exception>
    public static IoUring CreateWithFallback(uint entries, IoUringSetupFlags required, IoUringSetupFlags preferred, IoUringSetupFlags fallback, uint cqEntries = 0)
    {
        bool deferAllowed = DeferTaskrunGate.AllowedHere;
        preferred = DeferTaskrunGate.Apply(preferred, deferAllowed);
        fallback = DeferTaskrunGate.Apply(fallback, deferAllowed);
        foreach (IoUringSetupFlags optional in (ReadOnlySpan<IoUringSetupFlags>)[preferred, fallback])
        {
            if (optional == IoUringSetupFlags.None)
            {
                continue;
            }

            try
            {
                return new IoUring(entries, required | optional, cqEntries);
            }
            catch (ErrnoException e) when (e.Errno == Errno.EINVAL)
            {
                // Go on: this kernel does not know one of these optional flags.
            }
        }

        return new IoUring(entries, required, cqEntries);
    }

    /// <summary>The setup flags the ring was made with.</summary>
    public IoUringSetupFlags Flags { get; }

    /// <summary>What the kernel reported it supports.</summary>
    public IoUringFeatures Features { get; }

    /// <summary>SQ slots (a power of two).</summary>
    public uint SqEntries { get; }

    /// <summary>CQ slots (a power of two).</summary>
    public uint CqEntries { get; }

    /// <summary>The ring's descriptor number: the target of another ring's MSG_RING.</summary>
    public int RingFd => _fd;

    /// <summary>Bytes of URING_CMD payload an SQE of this ring holds: 16, or 80 with SQE128.</summary>
    public int CmdPayloadCapacity => _sqeShift == 7 ? io_uring_sqe.CmdSize128 : io_uring_sqe.CmdSize;

    /// <summary>
    /// SQEs handed out by <see cref="TryGetSqe"/> that the kernel has not consumed yet: prepared
    /// but unsubmitted, or left behind by a submit that stopped early.
    /// </summary>
    public uint SqPending => _sqeTail - Volatile.Read(ref *_kSqHead);

    /// <summary>How many more SQEs <see cref="TryGetSqe"/> can hand out before a submit.</summary>
    public uint SqSpaceLeft => SqEntries - SqPending;

    /// <summary>Completions posted and not yet reaped.</summary>
    public uint CqReady => Volatile.Read(ref *_kCqTail) - _cqHead;

    /// <summary>SQEs the kernel rejected as invalid without posting a CQE (sq_ring->dropped); should stay 0.</summary>
    public uint SqDropped => Volatile.Read(ref *_kSqDropped);

    /// <summary>Completions lost because the CQ was full, on a kernel without IORING_FEAT_NODROP; should stay 0.</summary>
    public uint CqOverflow => Volatile.Read(ref *_kCqOverflow);

    /// <summary>
    /// Hands out the next SQE slot, zeroed (all 128 bytes on an SQE128 ring). Returns false when
    /// the SQ is full: submit, reap, and try again.
    /// </summary>
    /// <param name="sqe">The slot to fill with a <see cref="UringPrep"/> method; null on false.</param>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public bool TryGetSqe(out io_uring_sqe* sqe)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        AssertOwner();

        // Acquire: the kernel is done reading every SQE below head. Loading head with acquire
        // orders that load before our stores into a recycled slot, as io_uring.c's ordering
        // comment asks ("smp_load_acquire to read head will do").
        uint head = Volatile.Read(ref *_kSqHead);
        if (_sqeTail - head >= SqEntries)
        {
            sqe = null;
            return false;
        }

        byte* slot = _sqes + ((nuint)(_sqeTail & _sqMask) << _sqeShift);
        NativeMemory.Clear(slot, (nuint)1 << _sqeShift);
        _sqeTail++;
        sqe = (io_uring_sqe*)slot;
        return true;
    }

    /// <summary>
    /// Publishes every prepared SQE and enters the kernel to submit them, without waiting.
    /// Makes no system call when nothing is pending and the kernel has flagged no stuck
    /// completions.
    /// </summary>
    /// <remarks>
    /// On a <see cref="IoUringSetupFlags.DeferTaskrun"/> ring, finished operations are posted to
    /// the CQ only while the owner is inside io_uring_enter with GETEVENTS, which this call uses
    /// only when the kernel set IORING_SQ_TASKRUN (rings made with TaskrunFlag). To poll such a
    /// ring without sleeping, call <see cref="SubmitAndWait"/> with 0.
    /// </remarks>
    /// <returns>
    /// How many SQEs the kernel consumed. Fewer than were pending when one failed to prepare (its
    /// CQE carries the error; the rest stay pending for the next call), and 0 when the kernel
    /// answered EAGAIN or EBUSY while completions were waiting to be reaped: reap, then submit
    /// again. <see cref="SqPending"/> says what is still queued.
    /// </returns>
    /// <exception cref="ErrnoException">
    /// io_uring_enter failed for another reason, or with EAGAIN/EBUSY when there is nothing to reap
    /// (the kernel is short of memory; retrying at once would spin).
    /// </exception>
    public int Submit()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        AssertOwner();
        uint toSubmit = PublishSq();

        // Completions can be stuck in the kernel: on the overflow list (CQ_OVERFLOW) or as
        // deferred task work (TASKRUN with TASKRUN_FLAG). GETEVENTS with min 0 flushes them.
        uint enterFlags = (Volatile.Read(ref *_kSqFlags) & (IoUringAbi.SqCqOverflow | IoUringAbi.SqTaskrun)) != 0
            ? IoUringAbi.EnterGetEvents
            : 0;
        if (toSubmit == 0 && enterFlags == 0)
        {
            return 0;
        }

        while (true)
        {
            int n = Libc.io_uring_enter(_fd, toSubmit, 0, enterFlags, null, 0);
            if (n >= 0)
            {
                return n;
            }

            Errno errno = ErrnoExtensions.LastPInvokeError();
            if (errno == Errno.EINTR)
            {
                toSubmit = _sqeTail - Volatile.Read(ref *_kSqHead);
                continue;
            }

            if (IsBusyWithCompletions(errno))
            {
                return 0;
            }

            ErrnoException.Throw(errno, "io_uring_enter");
        }
    }

    /// <summary>
    /// Publishes every prepared SQE, submits them, and waits until at least
    /// <paramref name="waitNr"/> completions are ready to reap (counting ones already there).
    /// With 0 it does not sleep but always enters the kernel, which on a DEFER_TASKRUN ring is
    /// what posts finished completions.
    /// </summary>
    /// <param name="waitNr">Completions to wait for; at most <see cref="CqEntries"/>.</param>
    /// <returns>
    /// How many SQEs the kernel consumed. Returns early with the count so far when the kernel
    /// answered EAGAIN or EBUSY while completions were waiting: reap them, then call again.
    /// Signals never end the wait (EINTR is retried).
    /// </returns>
    /// <exception cref="ErrnoException">As for <see cref="Submit"/>.</exception>
    public int SubmitAndWait(uint waitNr)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        AssertOwner();
        ArgumentOutOfRangeException.ThrowIfGreaterThan(waitNr, CqEntries);
        int submitted = 0;
        while (true)
        {
            uint toSubmit = PublishSq();
            int n = Libc.io_uring_enter(_fd, toSubmit, waitNr, IoUringAbi.EnterGetEvents, null, 0);
            if (n < 0)
            {
                Errno errno = ErrnoExtensions.LastPInvokeError();
                if (errno == Errno.EINTR)
                {
                    continue;
                }

                if (IsBusyWithCompletions(errno))
                {
                    return submitted;
                }

                ErrnoException.Throw(errno, "io_uring_enter");
            }

            submitted += n;

            // The kernel returns without waiting when it stopped submitting early (a bad SQE),
            // or after a signal once something was submitted; go round until the wait is met.
            if (CqReady >= waitNr)
            {
                return submitted;
            }
        }
    }

    /// <summary>
    /// Copies out the oldest unreaped completion without consuming it; call
    /// <see cref="AdvanceCq"/> once done with it.
    /// </summary>
    /// <param name="cqe">The completion; default when there is none.</param>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public bool TryPeekCqe(out io_uring_cqe cqe)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        AssertOwner();

        // Acquire: pairs with the kernel's release of the CQ tail after it wrote the CQE, so the
        // CQE bytes read below are the ones it posted ("smp_load_acquire to read the tail will do").
        uint tail = Volatile.Read(ref *_kCqTail);
        if (tail == _cqHead)
        {
            cqe = default;
            return false;
        }

        cqe = *(io_uring_cqe*)(_cqes + ((nuint)(_cqHead & _cqMask) << _cqeShift));
        return true;
    }

    /// <summary>Marks <paramref name="count"/> completions as consumed, returning their slots to the kernel.</summary>
    /// <param name="count">At most <see cref="CqReady"/>.</param>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void AdvanceCq(uint count)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        AssertOwner();
        Debug.Assert(count <= CqReady, "Advancing past the CQ tail would hand the kernel unread slots.");
        _cqHead += count;

        // Release: our reads of the consumed CQEs complete before the kernel can see the slots as
        // free and overwrite them ("smp_store_release to store head will do").
        Volatile.Write(ref *_kCqHead, _cqHead);
    }

    /// <summary>Copies up to <c>into.Length</c> completions out and consumes them.</summary>
    /// <param name="into">Where to copy them, oldest first.</param>
    /// <returns>How many were copied.</returns>
    public int Reap(Span<io_uring_cqe> into)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        AssertOwner();

        // Acquire, as in TryPeekCqe: every CQE below this tail is fully written.
        uint tail = Volatile.Read(ref *_kCqTail);
        uint available = tail - _cqHead;
        int count = (int)Math.Min(available, (uint)into.Length);
        for (int i = 0; i < count; i++)
        {
            into[i] = *(io_uring_cqe*)(_cqes + ((nuint)((_cqHead + (uint)i) & _cqMask) << _cqeShift));
        }

        if (count > 0)
        {
            _cqHead += (uint)count;

            // Release, as in AdvanceCq: the copies above are done before the slots are given back.
            Volatile.Write(ref *_kCqHead, _cqHead);
        }

        return count;
    }

    /// <summary>
    /// io_uring_register(2) on this ring: registered files, buffers, an eventfd for completions.
    /// </summary>
    /// <param name="opcode">IORING_REGISTER_* opcode.</param>
    /// <param name="arg">Opcode-specific argument.</param>
    /// <param name="nrArgs">Opcode-specific count.</param>
    /// <returns>The kernel's non-negative result.</returns>
    /// <exception cref="ErrnoException">The kernel refused.</exception>
    public int Register(uint opcode, void* arg, uint nrArgs)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        while (true)
        {
            int r = Libc.io_uring_register(_fd, opcode, arg, nrArgs);
            if (r >= 0)
            {
                return r;
            }

            Errno errno = ErrnoExtensions.LastPInvokeError();
            if (errno != Errno.EINTR)
            {
                ErrnoException.Throw(errno, "io_uring_register", null, "opcode " + opcode.ToString(CultureInfo.InvariantCulture));
            }
        }
    }

    /// <summary>
    /// Gives the ring a table of <paramref name="slots"/> empty buffer slots, for buffers a
    /// driver registers there on its own (ublk's UBLK_F_AUTO_BUF_REG puts each request's pages in
    /// the slot its fetch named) and fixed reads and writes then name.
    /// </summary>
    /// <param name="slots">Table size.</param>
    /// <exception cref="ErrnoException">The kernel refused (before 5.19: EINVAL).</exception>
    public void RegisterSparseBuffers(uint slots)
    {
        var table = new io_uring_rsrc_register { nr = slots, flags = IoUringRegister.RsrcRegisterSparse };
        Register(IoUringRegister.Buffers2, &table, (uint)sizeof(io_uring_rsrc_register));
    }

    /// <summary>
    /// Unmaps the rings and closes the ring fd, which cancels whatever is still in flight (the
    /// kernel finishes that asynchronously; see the type remarks about buffers).
    /// </summary>
    public void Dispose()
    {
        if (_disposed)
        {
            return;
        }

        _disposed = true;
        _sqeMap.Dispose();
        _cqRingMap?.Dispose();
        _sqRingMap.Dispose();
        _ringFd.Dispose();
    }

    // Makes every SQE handed out so far visible to the kernel and returns how many it has not
    // consumed yet (including any left behind by an earlier submit that stopped early).
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private uint PublishSq()
    {
        if (_sqeTail != _sqePublished)
        {
            // Release: the SQE contents written by TryGetSqe and the UringPrep call are visible
            // before the kernel can observe the new tail; pairs with its smp_load_acquire of the
            // SQ tail. io_uring_enter is a barrier too, but the release keeps the protocol right
            // without relying on that.
            Volatile.Write(ref *_kSqTail, _sqeTail);
            _sqePublished = _sqeTail;
        }

        return _sqeTail - Volatile.Read(ref *_kSqHead);
    }

    private bool IsBusyWithCompletions(Errno errno) =>
        (errno == Errno.EAGAIN || errno == Errno.EBUSY)
        && (CqReady > 0 || (Volatile.Read(ref *_kSqFlags) & IoUringAbi.SqCqOverflow) != 0);

    [Conditional("DEBUG")]
    private void AssertOwner() =>
        Debug.Assert(
            Environment.CurrentManagedThreadId == _ownerThreadId,
            "An IoUring is used only by the thread that created it.");

    private static ErrnoException SetupError(Errno errno, uint entries, IoUringSetupFlags flags, uint cqEntries)
    {
        string call = string.Create(
            CultureInfo.InvariantCulture,
            $"io_uring_setup(entries={entries}, cq_entries={cqEntries}, flags={flags})");
        string? detail = errno switch
        {
            Errno.EINVAL => "this kernel refused the flags or sizes; retry without the optional flags (IoUring.CreateWithFallback)",
            Errno.EPERM => "io_uring is disabled for this process (sysctl kernel.io_uring_disabled, or a seccomp filter)",
            Errno.ENOSYS => "this kernel has no io_uring",
            Errno.ENOMEM => "out of locked memory for the rings (RLIMIT_MEMLOCK on kernels before 5.12)",
            _ => null,
        };
        return ErrnoException.FromErrno(errno, call, null, detail);
    }
}
