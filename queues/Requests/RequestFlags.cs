namespace LoopOrder.Queues.Requests;

/// <summary>
/// Request flags the engine acts on. The values are the kernel's UBLK_IO_F_* bits as they sit in
/// <c>op_flags</c> (unshifted), so the transport masks a descriptor's flags without translating.
/// </summary>
[Flags]
public enum RequestFlags : uint
{
    /// <summary>No flag.</summary>
    None = 0,

    /// <summary>Forced unit access: the write completes only once it is durable (UBLK_IO_F_FUA, 1 &lt;&lt; 13).</summary>
    Fua = 1u << 13,

    /// <summary>WRITE_ZEROES must keep the blocks allocated (UBLK_IO_F_NOUNMAP, 1 &lt;&lt; 15).</summary>
    NoUnmap = 1u << 15,
}
