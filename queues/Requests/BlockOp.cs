namespace LoopOrder.Queues.Requests;

/// <summary>
/// The operation a block request asks for. The values are the kernel's UBLK_IO_OP_* numbers
/// (include/uapi/linux/ublk_cmd.h), so the transport maps a descriptor with a cast and tests
/// can name ops the kernel never sends (4, WRITE_SAME) or does not know (anything else).
/// </summary>
public enum BlockOp : byte
{
    /// <summary>Read sectors into the request's buffer (UBLK_IO_OP_READ).</summary>
    Read = 0,

    /// <summary>Write the request's buffer to sectors (UBLK_IO_OP_WRITE).</summary>
    Write = 1,

    /// <summary>Make every write acknowledged before it durable (UBLK_IO_OP_FLUSH).</summary>
    Flush = 2,

    /// <summary>Deallocate sectors; they read back as zeros (UBLK_IO_OP_DISCARD).</summary>
    Discard = 3,

    /// <summary>Zero sectors, deallocating them when NOUNMAP is clear (UBLK_IO_OP_WRITE_ZEROES).</summary>
    WriteZeroes = 5,
}
