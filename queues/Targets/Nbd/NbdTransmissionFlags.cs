namespace LoopOrder.Queues.Targets.Nbd;

/// <summary>The 16 transmission flags a server states for an export (proto.md "Transmission flags").</summary>
[Flags]
public enum NbdTransmissionFlags : ushort
{
    /// <summary>No flag.</summary>
    None = 0,

    /// <summary>NBD_FLAG_HAS_FLAGS: always set by a conforming server.</summary>
    HasFlags = 1 << 0,

    /// <summary>NBD_FLAG_READ_ONLY: writes fail.</summary>
    ReadOnly = 1 << 1,

    /// <summary>NBD_FLAG_SEND_FLUSH: NBD_CMD_FLUSH is understood (the server has a cache to write back).</summary>
    SendFlush = 1 << 2,

    /// <summary>NBD_FLAG_SEND_FUA: NBD_CMD_FLAG_FUA is understood.</summary>
    SendFua = 1 << 3,

    /// <summary>NBD_FLAG_ROTATIONAL: a hint.</summary>
    Rotational = 1 << 4,

    /// <summary>NBD_FLAG_SEND_TRIM: NBD_CMD_TRIM is understood.</summary>
    SendTrim = 1 << 5,

    /// <summary>NBD_FLAG_SEND_WRITE_ZEROES: NBD_CMD_WRITE_ZEROES and NBD_CMD_FLAG_NO_HOLE are understood.</summary>
    SendWriteZeroes = 1 << 6,

    /// <summary>NBD_FLAG_SEND_DF: reads may ask for one content chunk.</summary>
    SendDf = 1 << 7,

    /// <summary>
    /// NBD_FLAG_CAN_MULTI_CONN: a flush or FUA reply on one connection covers writes completed on
    /// every connection to the export (the server's cache, if any, is shared).
    /// </summary>
    CanMultiConn = 1 << 8,

    /// <summary>NBD_FLAG_SEND_RESIZE (experimental extension).</summary>
    SendResize = 1 << 9,

    /// <summary>NBD_FLAG_SEND_CACHE: NBD_CMD_CACHE is understood.</summary>
    SendCache = 1 << 10,

    /// <summary>NBD_FLAG_SEND_FAST_ZERO: NBD_CMD_FLAG_FAST_ZERO is understood.</summary>
    SendFastZero = 1 << 11,

    /// <summary>NBD_FLAG_BLOCK_STATUS_PAYLOAD (experimental extension).</summary>
    BlockStatusPayload = 1 << 12,
}
