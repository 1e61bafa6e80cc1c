namespace LoopOrder.Interop.Uring;

/// <summary>
/// IORING_OP_* opcodes: positions in <c>enum io_uring_op</c> (include/uapi/linux/io_uring.h),
/// which only ever grows at the end, so these numbers are stable across kernels.
/// </summary>
public static class IoUringOp
{
    /// <summary>IORING_OP_NOP: completes with 0, touches nothing.</summary>
    public const byte Nop = 0;
    /// <summary>IORING_OP_FSYNC.</summary>
    public const byte Fsync = 3;
    /// <summary>IORING_OP_READ_FIXED: a read into a buffer registered in the ring (sqe->buf_index).</summary>
    public const byte ReadFixed = 4;
    /// <summary>IORING_OP_WRITE_FIXED: a write from a buffer registered in the ring (sqe->buf_index).</summary>
    public const byte WriteFixed = 5;
    /// <summary>IORING_OP_POLL_ADD.</summary>
    public const byte PollAdd = 6;
    /// <summary>IORING_OP_TIMEOUT.</summary>
    public const byte Timeout = 11;
    /// <summary>IORING_OP_ASYNC_CANCEL.</summary>
    public const byte AsyncCancel = 14;
    /// <summary>IORING_OP_FALLOCATE.</summary>
    public const byte Fallocate = 17;
    /// <summary>IORING_OP_READ (non-vectored, 5.6+).</summary>
    public const byte Read = 22;
    /// <summary>IORING_OP_WRITE (non-vectored, 5.6+).</summary>
    public const byte Write = 23;
    /// <summary>IORING_OP_MSG_RING (5.18+): posts a CQE on another ring.</summary>
    public const byte MsgRing = 40;
    /// <summary>IORING_OP_URING_CMD (5.19+): a driver command, as ublk uses.</summary>
    public const byte UringCmd = 46;
}

/// <summary>IOSQE_* bits for <see cref="io_uring_sqe.flags"/> (bit positions from the header's IOSQE_*_BIT enum).</summary>
public static class IoSqeFlags
{
    /// <summary>IOSQE_FIXED_FILE: fd is an index into registered files.</summary>
    public const byte FixedFile = 1 << 0;
    /// <summary>IOSQE_IO_DRAIN: start only after every earlier SQE completed.</summary>
    public const byte IoDrain = 1 << 1;
    /// <summary>IOSQE_IO_LINK: the next SQE starts only after this one succeeded.</summary>
    public const byte IoLink = 1 << 2;
    /// <summary>IOSQE_IO_HARDLINK: like IoLink, but the chain survives a failure.</summary>
    public const byte IoHardLink = 1 << 3;
    /// <summary>IOSQE_ASYNC: go straight to an io-wq worker.</summary>
    public const byte Async = 1 << 4;
    /// <summary>IOSQE_BUFFER_SELECT: the kernel picks the data buffer from the provided-buffer group in <see cref="io_uring_sqe.buf_group"/>.</summary>
    public const byte BufferSelect = 1 << 5;
    /// <summary>IOSQE_CQE_SKIP_SUCCESS: post no CQE when it succeeds.</summary>
    public const byte CqeSkipSuccess = 1 << 6;
}

/// <summary>IORING_SETUP_* flags for io_uring_setup (include/uapi/linux/io_uring.h).</summary>
[Flags]
public enum IoUringSetupFlags : uint
{
    /// <summary>Defaults: interrupt-driven completions, 64-byte SQEs, CQ twice the SQ.</summary>
    None = 0,
    /// <summary>IORING_SETUP_IOPOLL: busy-poll completions (O_DIRECT on polled queues only).</summary>
    IoPoll = 1U << 0,
    /// <summary>IORING_SETUP_SQPOLL: a kernel thread polls the SQ. Not supported by <see cref="IoUring"/>.</summary>
    SqPoll = 1U << 1,
    /// <summary>IORING_SETUP_CQSIZE: use the requested CQ size; set for you when a CQ size is given.</summary>
    CqSize = 1U << 3,
    /// <summary>IORING_SETUP_CLAMP: clamp sizes to the maximum instead of failing.</summary>
    Clamp = 1U << 4,
    /// <summary>IORING_SETUP_SUBMIT_ALL: keep submitting after an SQE fails to prepare.</summary>
    SubmitAll = 1U << 7,
    /// <summary>IORING_SETUP_COOP_TASKRUN (5.19+): no IPI to run completion work; it runs on the next enter.</summary>
    CoopTaskrun = 1U << 8,
    /// <summary>IORING_SETUP_TASKRUN_FLAG: set IORING_SQ_TASKRUN when completion work waits.</summary>
    TaskrunFlag = 1U << 9,
    /// <summary>IORING_SETUP_SQE128 (5.19+): 128-byte SQEs, an 80-byte URING_CMD payload (ublk control).</summary>
    Sqe128 = 1U << 10,
    /// <summary>IORING_SETUP_CQE32 (5.19+): 32-byte CQEs.</summary>
    Cqe32 = 1U << 11,
    /// <summary>IORING_SETUP_SINGLE_ISSUER (6.0+): only the creating thread may submit (others get EEXIST).</summary>
    SingleIssuer = 1U << 12,
    /// <summary>IORING_SETUP_DEFER_TASKRUN (6.1+, needs SingleIssuer): completions are posted only while the owner waits.</summary>
    DeferTaskrun = 1U << 13,
    /// <summary>IORING_SETUP_NO_SQARRAY (6.6+): no SQ index array; SQ slots map straight to SQEs.</summary>
    NoSqArray = 1U << 16,
}

/// <summary>IORING_FEAT_* bits the kernel reports in <see cref="io_uring_params.features"/>.</summary>
[Flags]
public enum IoUringFeatures : uint
{
    /// <summary>No features (a pre-5.4 kernel).</summary>
    None = 0,
    /// <summary>IORING_FEAT_SINGLE_MMAP: SQ and CQ rings share one mapping.</summary>
    SingleMmap = 1U << 0,
    /// <summary>IORING_FEAT_NODROP: completions are never dropped; an overflowing CQ gives EBUSY instead.</summary>
    NoDrop = 1U << 1,
    /// <summary>IORING_FEAT_SUBMIT_STABLE: SQE data is copied at submit, so it may be reused at once.</summary>
    SubmitStable = 1U << 2,
    /// <summary>IORING_FEAT_RW_CUR_POS: offset -1 means the file position.</summary>
    RwCurPos = 1U << 3,
    /// <summary>IORING_FEAT_FAST_POLL: internal poll instead of io-wq threads for pollable files.</summary>
    FastPoll = 1U << 5,
    /// <summary>IORING_FEAT_EXT_ARG: io_uring_enter takes io_uring_getevents_arg.</summary>
    ExtArg = 1U << 8,
    /// <summary>IORING_FEAT_NATIVE_WORKERS: io-wq workers are threads of the process.</summary>
    NativeWorkers = 1U << 9,
}

/// <summary>RWF_* flags for READ/WRITE <see cref="io_uring_sqe.rw_flags"/> (include/uapi/linux/fs.h).</summary>
public static class RwFlags
{
    /// <summary>RWF_HIPRI: polled I/O (needs an IOPOLL ring to matter).</summary>
    public const uint HiPri = 0x1;
    /// <summary>RWF_DSYNC: this write is durable before it completes (per-write O_DSYNC): FUA.</summary>
    public const uint DSync = 0x2;
    /// <summary>RWF_SYNC: per-write O_SYNC.</summary>
    public const uint Sync = 0x4;
    /// <summary>RWF_NOWAIT: fail with EAGAIN rather than block.</summary>
    public const uint NoWait = 0x8;
}

/// <summary>IORING_URING_CMD_* flags for <see cref="io_uring_sqe.uring_cmd_flags"/>.</summary>
public static class UringCmdFlags
{
    /// <summary>IORING_URING_CMD_FIXED: the command's buffer is a registered one (buf_index).</summary>
    public const uint Fixed = 1U << 0;
    /// <summary>IORING_URING_CMD_MULTISHOT (6.18+): one command, many CQEs, each with a selected buffer; it ends with a CQE without <see cref="IoCqeFlags.More"/>.</summary>
    public const uint Multishot = 1U << 1;
}

/// <summary>IORING_CQE_F_* bits of <see cref="io_uring_cqe.flags"/>.</summary>
public static class IoCqeFlags
{
    /// <summary>IORING_CQE_F_BUFFER: the upper 16 bits name the provided buffer used.</summary>
    public const uint Buffer = 1U << 0;
    /// <summary>IORING_CQE_F_MORE: a multishot request stays armed; more CQEs follow.</summary>
    public const uint More = 1U << 1;
    /// <summary>IORING_CQE_F_BUF_MORE: an incrementally consumed buffer (IOU_PBUF_RING_INC) is not used up; the next CQE goes on in it.</summary>
    public const uint BufMore = 1U << 4;
}

/// <summary>IORING_FSYNC_* flags for <see cref="io_uring_sqe.fsync_flags"/>.</summary>
public static class FsyncFlags
{
    /// <summary>IORING_FSYNC_DATASYNC: fdatasync rather than fsync.</summary>
    public const uint DataSync = 1U << 0;
}

/// <summary>FALLOC_FL_* modes for fallocate (include/uapi/linux/falloc.h).</summary>
public static class FallocFlags
{
    /// <summary>FALLOC_FL_KEEP_SIZE: never change the file size.</summary>
    public const int KeepSize = 0x01;
    /// <summary>FALLOC_FL_PUNCH_HOLE: deallocate; must be combined with KeepSize.</summary>
    public const int PunchHole = 0x02;
    /// <summary>FALLOC_FL_ZERO_RANGE: make the range read as zeros, keeping it allocated.</summary>
    public const int ZeroRange = 0x10;
}

/// <summary>poll(2) event bits for POLL_ADD (include/uapi/asm-generic/poll.h).</summary>
public static class PollMask
{
    /// <summary>POLLIN: readable.</summary>
    public const uint In = 0x001;
    /// <summary>POLLOUT: writable.</summary>
    public const uint Out = 0x004;
    /// <summary>POLLERR.</summary>
    public const uint Err = 0x008;
    /// <summary>POLLHUP.</summary>
    public const uint Hup = 0x010;
}

/// <summary>Values the ring itself uses; not needed by callers.</summary>
internal static class IoUringAbi
{
    // mmap offsets selecting which region of the ring fd to map (IORING_OFF_*).
    internal const long OffSqRing = 0;
    internal const long OffCqRing = 0x8000000;
    internal const long OffSqes = 0x10000000;

    // io_uring_enter flags (IORING_ENTER_*).
    internal const uint EnterGetEvents = 1U << 0;

    // sq_ring->flags bits (IORING_SQ_*), written by the kernel.
    internal const uint SqNeedWakeup = 1U << 0;
    internal const uint SqCqOverflow = 1U << 1;
    internal const uint SqTaskrun = 1U << 2;

    // The largest ring io_uring_setup accepts without CLAMP (IORING_MAX_ENTRIES in io_uring.c);
    // the CQ may be up to twice that (IORING_MAX_CQ_ENTRIES).
    internal const uint MaxEntries = 32768;
    internal const uint MaxCqEntries = 2 * MaxEntries;

    // IORING_MSG_DATA: the MSG_RING command that posts a CQE with the given res and user_data.
    internal const ulong MsgData = 0;
}

/// <summary>IORING_REGISTER_* opcodes of io_uring_register(2) and their flags.</summary>
public static class IoUringRegister
{
    /// <summary>IORING_REGISTER_BUFFERS2 (5.13+): a buffer table described by <see cref="io_uring_rsrc_register"/>.</summary>
    public const uint Buffers2 = 15;

    /// <summary>IORING_REGISTER_PBUF_RING (5.19+): a ring of provided buffers for a buffer group, described by <see cref="io_uring_buf_reg"/>.</summary>
    public const uint PbufRing = 22;

    /// <summary>IORING_UNREGISTER_PBUF_RING.</summary>
    public const uint UnregisterPbufRing = 23;

    /// <summary>IOU_PBUF_RING_INC (6.12+): a provided buffer is consumed a piece at a time, not whole by one completion.</summary>
    public const ushort PbufRingInc = 2;

    /// <summary>IORING_RSRC_REGISTER_SPARSE (5.19+): the table's slots start empty, for the kernel or later updates to fill.</summary>
    public const uint RsrcRegisterSparse = 1U << 0;
}
