namespace LoopOrder.Queues.Targets.Nbd;

/// <summary>What the handshake learned about an export; the same for every connection of a set.</summary>
public sealed record NbdExportInfo
{
    /// <summary>The export name as sent.</summary>
    public required string Name { get; init; }

    /// <summary>Size in bytes.</summary>
    public required long Size { get; init; }

    /// <summary>The transmission flags the server stated.</summary>
    public required NbdTransmissionFlags Flags { get; init; }

    /// <summary>
    /// Smallest addressable length and alignment: offsets and lengths must be multiples of it.
    /// 1 when the server stated no block size (the document's default).
    /// </summary>
    public uint MinimumBlockSize { get; init; } = 1;

    /// <summary>The size at which aligned I/O is efficient; 4096 when not stated (the document's default).</summary>
    public uint PreferredBlockSize { get; init; } = 4096;

    /// <summary>The largest read or write payload; 2^25 when not stated (what every server should accept).</summary>
    public uint MaximumPayload { get; init; } = NbdWire.DefaultMaxPayload;

    /// <summary>True when the server stated block sizes (NBD_INFO_BLOCK_SIZE) rather than leaving the defaults.</summary>
    public bool BlockSizeStated { get; init; }

    /// <summary>True when structured replies were negotiated (reads may come back as data and hole chunks).</summary>
    public bool StructuredReplies { get; init; }

    /// <summary>True when the server took NBD_OPT_GO; false after the NBD_OPT_EXPORT_NAME fallback.</summary>
    public bool UsedGo { get; init; }

    /// <summary>Writes fail (NBD_FLAG_READ_ONLY).</summary>
    public bool IsReadOnly => (Flags & NbdTransmissionFlags.ReadOnly) != 0;

    /// <summary>NBD_CMD_FLUSH may be sent.</summary>
    public bool CanFlush => (Flags & NbdTransmissionFlags.SendFlush) != 0;

    /// <summary>NBD_CMD_FLAG_FUA may be sent.</summary>
    public bool CanFua => (Flags & NbdTransmissionFlags.SendFua) != 0;

    /// <summary>A flush on one connection covers writes completed on all (NBD_FLAG_CAN_MULTI_CONN).</summary>
    public bool CanMultiConn => (Flags & NbdTransmissionFlags.CanMultiConn) != 0;

    /// <summary>NBD_CMD_TRIM may be sent.</summary>
    public bool CanTrim => (Flags & NbdTransmissionFlags.SendTrim) != 0;

    /// <summary>NBD_CMD_WRITE_ZEROES (and its NO_HOLE flag) may be sent.</summary>
    public bool CanWriteZeroes => (Flags & NbdTransmissionFlags.SendWriteZeroes) != 0;
}
