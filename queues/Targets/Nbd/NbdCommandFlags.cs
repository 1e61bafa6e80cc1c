namespace LoopOrder.Queues.Targets.Nbd;

/// <summary>Command flags this client sets (proto.md "Command flags").</summary>
[Flags]
public enum NbdCommandFlags : ushort
{
    /// <summary>No flag.</summary>
    None = 0,

    /// <summary>
    /// NBD_CMD_FLAG_FUA: the reply waits until the command's data is durable. Sent as is when the
    /// server states SEND_FUA; otherwise the connection follows the write with a flush of its own.
    /// </summary>
    Fua = 1 << 0,

    /// <summary>NBD_CMD_FLAG_NO_HOLE: a write-zeroes must allocate, not punch a hole.</summary>
    NoHole = 1 << 1,
}
