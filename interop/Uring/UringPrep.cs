using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace LoopOrder.Interop.Uring;

/// <summary>
/// Fills an SQE from <see cref="IoUring.TryGetSqe"/> for one operation. Each method sets only
/// the fields its operation reads, relying on the slot having been zeroed; set
/// <see cref="io_uring_sqe.flags"/> (<see cref="IoSqeFlags"/>) afterwards for links or drains.
/// </summary>
/// <remarks>
/// Field use follows the kernel's prep functions in io_uring/*.c (for example
/// io_fallocate_prep reads offset from <c>off</c>, length from <c>addr</c> and mode from
/// <c>len</c>). Buffers must stay valid until the CQE is reaped.
/// </remarks>
public static unsafe class UringPrep
{
    /// <summary>IORING_OP_NOP: completes with res 0.</summary>
    /// <param name="sqe">A zeroed slot.</param>
    /// <param name="userData">Returned in the CQE.</param>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Nop(io_uring_sqe* sqe, ulong userData)
    {
        sqe->opcode = IoUringOp.Nop;
        sqe->user_data = userData;
    }

    /// <summary>IORING_OP_READ: pread into <paramref name="buffer"/>; res is the bytes read or -errno.</summary>
    /// <param name="sqe">A zeroed slot.</param>
    /// <param name="fd">The file.</param>
    /// <param name="buffer">Destination (aligned for O_DIRECT files).</param>
    /// <param name="length">Bytes to read.</param>
    /// <param name="offset">File offset; <see cref="ulong.MaxValue"/> (-1) means the file position.</param>
    /// <param name="userData">Returned in the CQE.</param>
    /// <param name="rwFlags"><see cref="RwFlags"/> bits.</param>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Read(io_uring_sqe* sqe, int fd, void* buffer, uint length, ulong offset, ulong userData, uint rwFlags = 0) =>
        Rw(sqe, IoUringOp.Read, fd, buffer, length, offset, userData, rwFlags);

    /// <summary>
    /// IORING_OP_WRITE: pwrite from <paramref name="buffer"/>; res is the bytes written or -errno.
    /// With <see cref="RwFlags.DSync"/> the data is durable when it completes (FUA).
    /// </summary>
    /// <param name="sqe">A zeroed slot.</param>
    /// <param name="fd">The file.</param>
    /// <param name="buffer">Source (aligned for O_DIRECT files).</param>
    /// <param name="length">Bytes to write.</param>
    /// <param name="offset">File offset.</param>
    /// <param name="userData">Returned in the CQE.</param>
    /// <param name="rwFlags"><see cref="RwFlags"/> bits.</param>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Write(io_uring_sqe* sqe, int fd, void* buffer, uint length, ulong offset, ulong userData, uint rwFlags = 0) =>
        Rw(sqe, IoUringOp.Write, fd, buffer, length, offset, userData, rwFlags);

    /// <summary>
    /// IORING_OP_READ_FIXED or IORING_OP_WRITE_FIXED: a read into, or a write from, the buffer in
    /// slot <paramref name="bufferIndex"/> of the ring's registered table, starting
    /// <paramref name="bufferOffset"/> bytes into it. For a buffer a driver registered (a ublk
    /// request's pages) the kernel counts addresses from 0, so the offset is the address.
    /// </summary>
    /// <param name="sqe">A zeroed slot.</param>
    /// <param name="write">True for a write.</param>
    /// <param name="fd">The file.</param>
    /// <param name="bufferIndex">The registered buffer's slot.</param>
    /// <param name="bufferOffset">Bytes into the buffer.</param>
    /// <param name="length">Bytes to move.</param>
    /// <param name="offset">File offset.</param>
    /// <param name="userData">Returned in the CQE.</param>
    /// <param name="rwFlags"><see cref="RwFlags"/> bits.</param>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void RwFixed(io_uring_sqe* sqe, bool write, int fd, ushort bufferIndex, ulong bufferOffset, uint length, ulong offset, ulong userData, uint rwFlags = 0)
    {
        Rw(sqe, write ? IoUringOp.WriteFixed : IoUringOp.ReadFixed, fd, (void*)bufferOffset, length, offset, userData, rwFlags);
        sqe->buf_index = bufferIndex;
    }

    /// <summary>IORING_OP_FSYNC: fsync, or fdatasync with <see cref="FsyncFlags.DataSync"/>; res 0 or -errno.</summary>
    /// <param name="sqe">A zeroed slot.</param>
    /// <param name="fd">The file.</param>
    /// <param name="fsyncFlags"><see cref="FsyncFlags"/> bits.</param>
    /// <param name="userData">Returned in the CQE.</param>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Fsync(io_uring_sqe* sqe, int fd, uint fsyncFlags, ulong userData)
    {
        sqe->opcode = IoUringOp.Fsync;
        sqe->fd = fd;
        sqe->fsync_flags = fsyncFlags;
        sqe->user_data = userData;
    }

    /// <summary>
    /// IORING_OP_FALLOCATE: fallocate(fd, mode, offset, length); res 0 or -errno. Note the
    /// kernel's encoding, which differs from the syscall's argument order: offset in <c>off</c>,
    /// length in <c>addr</c>, mode in <c>len</c>.
    /// </summary>
    /// <param name="sqe">A zeroed slot.</param>
    /// <param name="fd">The file.</param>
    /// <param name="mode"><see cref="FallocFlags"/> bits; 0 preallocates.</param>
    /// <param name="offset">Start, bytes.</param>
    /// <param name="length">Length, bytes.</param>
    /// <param name="userData">Returned in the CQE.</param>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Fallocate(io_uring_sqe* sqe, int fd, int mode, ulong offset, ulong length, ulong userData)
    {
        sqe->opcode = IoUringOp.Fallocate;
        sqe->fd = fd;
        sqe->off = offset;
        sqe->addr = length;
        sqe->len = (uint)mode;
        sqe->user_data = userData;
    }

    /// <summary>
    /// Reads an eventfd's 8-byte counter into <paramref name="counter"/>: completes (res 8) once
    /// another thread signals it. Use a blocking eventfd (see <see cref="EventFd"/>'s remarks).
    /// </summary>
    /// <param name="sqe">A zeroed slot.</param>
    /// <param name="eventFd">The eventfd's descriptor.</param>
    /// <param name="counter">Receives the counter; must stay valid until the CQE.</param>
    /// <param name="userData">Returned in the CQE.</param>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void ReadEventFd(io_uring_sqe* sqe, int eventFd, ulong* counter, ulong userData) =>
        Rw(sqe, IoUringOp.Read, eventFd, counter, sizeof(ulong), 0, userData, 0);

    /// <summary>IORING_OP_POLL_ADD, one shot: completes with the ready <see cref="PollMask"/> bits once the fd is ready.</summary>
    /// <param name="sqe">A zeroed slot.</param>
    /// <param name="fd">The file.</param>
    /// <param name="pollMask"><see cref="PollMask"/> bits to wait for.</param>
    /// <param name="userData">Returned in the CQE.</param>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void PollAdd(io_uring_sqe* sqe, int fd, uint pollMask, ulong userData)
    {
        sqe->opcode = IoUringOp.PollAdd;
        sqe->fd = fd;

        // poll32_events is little-endian here; big-endian hosts would need the halves swapped.
        sqe->poll32_events = pollMask;
        sqe->user_data = userData;
    }

    /// <summary>
    /// IORING_OP_URING_CMD: driver command <paramref name="cmdOp"/> on <paramref name="fd"/>
    /// with <paramref name="payload"/> copied to the SQE's <c>cmd</c> area (byte 48); res is the
    /// driver's answer. ublk I/O commands take 16 bytes (any ring); control commands take 32
    /// (an SQE128 ring).
    /// </summary>
    /// <param name="sqe">A zeroed slot.</param>
    /// <param name="fd">The device (e.g. /dev/ublk-control, /dev/ublkcN).</param>
    /// <param name="cmdOp">The command code.</param>
    /// <param name="payload">Up to 16 bytes, or up to 80 on an SQE128 ring (<see cref="IoUring.CmdPayloadCapacity"/>).</param>
    /// <param name="userData">Returned in the CQE.</param>
    /// <exception cref="ArgumentOutOfRangeException">The payload is over 80 bytes.</exception>
    public static void UringCmd(io_uring_sqe* sqe, int fd, uint cmdOp, ReadOnlySpan<byte> payload, ulong userData)
    {
        // Only the largest size can be checked here: the slot does not know its ring. A payload
        // over 16 bytes on a 64-byte ring would spill into the next SQE, so callers size it by
        // IoUring.CmdPayloadCapacity.
        ArgumentOutOfRangeException.ThrowIfGreaterThan(payload.Length, io_uring_sqe.CmdSize128, nameof(payload));
        sqe->opcode = IoUringOp.UringCmd;
        sqe->fd = fd;
        sqe->cmd_op = cmdOp;
        sqe->user_data = userData;
        payload.CopyTo(new Span<byte>(Cmd(sqe), payload.Length));
    }

    /// <summary>
    /// IORING_OP_URING_CMD with a blittable payload struct (e.g. ublksrv_io_cmd, 16 bytes, or
    /// ublksrv_ctrl_cmd, 32 bytes), copied to byte 48.
    /// </summary>
    /// <typeparam name="T">The payload struct.</typeparam>
    /// <param name="sqe">A zeroed slot.</param>
    /// <param name="fd">The device.</param>
    /// <param name="cmdOp">The command code.</param>
    /// <param name="payload">The payload (see <see cref="UringCmd(io_uring_sqe*, int, uint, ReadOnlySpan{byte}, ulong)"/> for size limits).</param>
    /// <param name="userData">Returned in the CQE.</param>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void UringCmd<T>(io_uring_sqe* sqe, int fd, uint cmdOp, in T payload, ulong userData)
        where T : unmanaged =>
        UringCmd(sqe, fd, cmdOp, MemoryMarshal.AsBytes(new ReadOnlySpan<T>(in payload)), userData);

    /// <summary>The SQE's <c>cmd</c> area (byte 48): write a URING_CMD payload in place instead of copying.</summary>
    /// <param name="sqe">The slot.</param>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static byte* Cmd(io_uring_sqe* sqe) => (byte*)sqe + io_uring_sqe.CmdOffset;

    /// <summary>
    /// IORING_OP_MSG_RING with IORING_MSG_DATA: posts a CQE with res = <paramref name="result"/>
    /// and user_data = <paramref name="targetUserData"/> on the ring <paramref name="targetRingFd"/>,
    /// waking its owner from another thread's ring (5.18+). This ring gets its own CQE too.
    /// </summary>
    /// <param name="sqe">A zeroed slot.</param>
    /// <param name="targetRingFd">The other ring's <see cref="IoUring.RingFd"/>.</param>
    /// <param name="result">The res the target's CQE carries.</param>
    /// <param name="targetUserData">The user_data the target's CQE carries.</param>
    /// <param name="userData">Returned in this ring's CQE.</param>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void MsgRing(io_uring_sqe* sqe, int targetRingFd, int result, ulong targetUserData, ulong userData)
    {
        sqe->opcode = IoUringOp.MsgRing;
        sqe->fd = targetRingFd;
        sqe->addr = IoUringAbi.MsgData;
        sqe->len = (uint)result;
        sqe->off = targetUserData;
        sqe->user_data = userData;
    }

    /// <summary>
    /// IORING_OP_TIMEOUT: completes with -ETIME after <paramref name="timeout"/>, or with 0 once
    /// <paramref name="completionCount"/> other completions were posted (0: time only).
    /// </summary>
    /// <param name="sqe">A zeroed slot.</param>
    /// <param name="timeout">Relative time; must stay valid until the CQE.</param>
    /// <param name="completionCount">Completions that end it early; 0 for none.</param>
    /// <param name="userData">Returned in the CQE.</param>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Timeout(io_uring_sqe* sqe, KernelTimespec* timeout, uint completionCount, ulong userData)
    {
        sqe->opcode = IoUringOp.Timeout;
        sqe->fd = -1;
        sqe->addr = (ulong)timeout;
        sqe->len = 1; // one timespec
        sqe->off = completionCount;
        sqe->user_data = userData;
    }

    /// <summary>
    /// IORING_OP_ASYNC_CANCEL for the request whose user_data is <paramref name="targetUserData"/>:
    /// res 0 (cancelled), -ENOENT (not found) or -EALREADY (running); the target completes with
    /// -ECANCELED when cancelled.
    /// </summary>
    /// <param name="sqe">A zeroed slot.</param>
    /// <param name="targetUserData">The request to cancel.</param>
    /// <param name="userData">Returned in the CQE.</param>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void AsyncCancel(io_uring_sqe* sqe, ulong targetUserData, ulong userData)
    {
        sqe->opcode = IoUringOp.AsyncCancel;
        sqe->fd = -1;
        sqe->addr = targetUserData;
        sqe->user_data = userData;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Rw(io_uring_sqe* sqe, byte opcode, int fd, void* buffer, uint length, ulong offset, ulong userData, uint rwFlags)
    {
        sqe->opcode = opcode;
        sqe->fd = fd;
        sqe->off = offset;
        sqe->addr = (ulong)buffer;
        sqe->len = length;
        sqe->rw_flags = rwFlags;
        sqe->user_data = userData;
    }
}
