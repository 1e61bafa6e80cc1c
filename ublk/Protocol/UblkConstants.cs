namespace LoopOrder.Ublk.Protocol;

/// <summary>UBLK_ATTR_* bits of <see cref="Structs.ublk_param_basic.attrs"/>.</summary>
[Flags]
public enum UblkAttributes : uint
{
    /// <summary>No attribute: a write-through, non-rotational, writable disk.</summary>
    None = 0,

    /// <summary>UBLK_ATTR_READ_ONLY.</summary>
    ReadOnly = 1u << 0,

    /// <summary>UBLK_ATTR_ROTATIONAL.</summary>
    Rotational = 1u << 1,

    /// <summary>UBLK_ATTR_VOLATILE_CACHE: the kernel sends FLUSH only to a device that sets it.</summary>
    VolatileCache = 1u << 2,

    /// <summary>UBLK_ATTR_FUA: the kernel passes REQ_FUA through (needs <see cref="VolatileCache"/>).</summary>
    Fua = 1u << 3,
}

/// <summary>UBLK_BATCH_F_* bits of <see cref="Structs.ublk_batch_io.flags"/>.</summary>
[Flags]
public enum UblkBatchFlags : ushort
{
    /// <summary>Elements are a bare <see cref="Structs.ublk_elem_header"/>.</summary>
    None = 0,

    /// <summary>UBLK_BATCH_F_HAS_ZONE_LBA: elements carry a zone-append LBA (zoned devices only).</summary>
    HasZoneLba = 1 << 0,

    /// <summary>UBLK_BATCH_F_HAS_BUF_ADDR: elements carry the tag's buffer address after the header (copies, not zero copy).</summary>
    HasBufAddr = 1 << 1,

    /// <summary>UBLK_BATCH_F_AUTO_BUF_REG_FALLBACK: a request whose pages cannot be registered arrives flagged instead of failing.</summary>
    AutoBufRegFallback = 1 << 2,
}

/// <summary>UBLK_PARAM_TYPE_* bits of <see cref="Structs.ublk_params.types"/>.</summary>
[Flags]
public enum UblkParamTypes : uint
{
    /// <summary>None.</summary>
    None = 0,

    /// <summary>UBLK_PARAM_TYPE_BASIC: required.</summary>
    Basic = 1u << 0,

    /// <summary>UBLK_PARAM_TYPE_DISCARD.</summary>
    Discard = 1u << 1,

    /// <summary>UBLK_PARAM_TYPE_DEVT: read-only, filled by GET_PARAMS.</summary>
    Devt = 1u << 2,

    /// <summary>UBLK_PARAM_TYPE_ZONED.</summary>
    Zoned = 1u << 3,
}

/// <summary>UBLK_S_DEV_* values of <see cref="Structs.ublksrv_ctrl_dev_info.state"/>.</summary>
public enum UblkDeviceState : ushort
{
    /// <summary>UBLK_S_DEV_DEAD: not started, or stopped.</summary>
    Dead = 0,

    /// <summary>UBLK_S_DEV_LIVE: started and served.</summary>
    Live = 1,

    /// <summary>UBLK_S_DEV_QUIESCED: the server died and recovery is possible.</summary>
    Quiesced = 2,

    /// <summary>
    /// UBLK_S_DEV_FAIL_IO (6.13): like <see cref="Quiesced"/> for a device with
    /// UBLK_F_USER_RECOVERY_FAIL_IO: recovery is possible and I/O meanwhile fails (EREMOTEIO).
    /// </summary>
    FailIo = 3,
}

/// <summary>UBLK_IO_OP_* values in the low byte of <see cref="Structs.ublksrv_io_desc.op_flags"/>.</summary>
public static class UblkIoOp
{
    /// <summary>UBLK_IO_OP_READ.</summary>
    public const byte Read = 0;

    /// <summary>UBLK_IO_OP_WRITE.</summary>
    public const byte Write = 1;

    /// <summary>UBLK_IO_OP_FLUSH.</summary>
    public const byte Flush = 2;

    /// <summary>UBLK_IO_OP_DISCARD.</summary>
    public const byte Discard = 3;

    /// <summary>UBLK_IO_OP_WRITE_SAME (never sent).</summary>
    public const byte WriteSame = 4;

    /// <summary>UBLK_IO_OP_WRITE_ZEROES.</summary>
    public const byte WriteZeroes = 5;
}

/// <summary>UBLK_IO_F_* bits of <see cref="Structs.ublksrv_io_desc.op_flags"/>, unshifted.</summary>
public static class UblkIoFlags
{
    /// <summary>UBLK_IO_F_FAILFAST_DEV.</summary>
    public const uint FailfastDev = 1u << 8;

    /// <summary>UBLK_IO_F_FAILFAST_TRANSPORT.</summary>
    public const uint FailfastTransport = 1u << 9;

    /// <summary>UBLK_IO_F_FAILFAST_DRIVER.</summary>
    public const uint FailfastDriver = 1u << 10;

    /// <summary>UBLK_IO_F_META.</summary>
    public const uint Meta = 1u << 11;

    /// <summary>UBLK_IO_F_FUA.</summary>
    public const uint Fua = 1u << 13;

    /// <summary>UBLK_IO_F_NOUNMAP.</summary>
    public const uint NoUnmap = 1u << 15;

    /// <summary>UBLK_IO_F_SWAP.</summary>
    public const uint Swap = 1u << 16;
}

/// <summary>Fixed numbers of the protocol.</summary>
public static class UblkLimits
{
    /// <summary>UBLK_BATCH_IO_UNUSED_TAG: a FETCH_IO_CMDS slot the kernel filled with no request (it could not start it); skip it.</summary>
    public const ushort BatchUnusedTag = ushort.MaxValue;

    /// <summary>UBLK_MAX_QUEUE_DEPTH: tags per queue.</summary>
    public const int MaxQueueDepth = 4096;

    /// <summary>UBLK_MAX_NR_QUEUES.</summary>
    public const int MaxQueues = 4096;

    /// <summary>UBLK_FEATURES_LEN: bytes GET_FEATURES writes.</summary>
    public const int FeaturesLength = 8;

    /// <summary>UBLK_IO_RES_OK: a fetched tag carries a request.</summary>
    public const int IoResOk = 0;

    /// <summary>UBLK_IO_RES_NEED_GET_DATA.</summary>
    public const int IoResNeedGetData = 1;

    /// <summary>UBLK_IO_RES_ABORT is -ENODEV: the tag will not be fetched again (the device stopped).</summary>
    public const int IoResAbort = -19;

    /// <summary>UBLKSRV_CMD_BUF_OFFSET: where the descriptor areas start in /dev/ublkcN's mmap space.</summary>
    public const long CmdBufOffset = 0;

    /// <summary>
    /// Bytes between two queues' descriptor areas in the mmap space of /dev/ublkcN: the kernel
    /// (ublk_ch_mmap) finds the queue as offset / round_up(UBLK_MAX_QUEUE_DEPTH × 24, PAGE_SIZE),
    /// whatever the real depth. 98304 with 4 KiB pages.
    /// </summary>
    /// <param name="pageSize">The system page size.</param>
    public static long DescriptorAreaStride(int pageSize) => RoundUp((long)MaxQueueDepth * Structs.ublksrv_io_desc.Size, pageSize);

    /// <summary>Offset to mmap queue <paramref name="queueId"/>'s descriptors at.</summary>
    /// <param name="queueId">The queue.</param>
    /// <param name="pageSize">The system page size.</param>
    public static long DescriptorAreaOffset(int queueId, int pageSize) => CmdBufOffset + (queueId * DescriptorAreaStride(pageSize));

    /// <summary>The exact length the kernel accepts for one queue's mapping: round_up(depth × 24, PAGE_SIZE).</summary>
    /// <param name="queueDepth">Tags in the queue.</param>
    /// <param name="pageSize">The system page size.</param>
    public static long DescriptorAreaLength(int queueDepth, int pageSize) => RoundUp((long)queueDepth * Structs.ublksrv_io_desc.Size, pageSize);

    internal static long RoundUp(long value, int multiple) => (value + multiple - 1) / multiple * multiple;
}
