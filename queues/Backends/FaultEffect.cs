namespace LoopOrder.Queues.Backends;

/// <summary>What an injected fault does to the request it hits.</summary>
public enum FaultEffect : byte
{
    /// <summary>Fails with EIO; the request never reaches the backend, so nothing is read, written or synced.</summary>
    Eio,

    /// <summary>A write fails with ENOSPC; nothing is written.</summary>
    Enospc,

    /// <summary>
    /// A write lands only a prefix (see <see cref="FaultInjectingBackend.ShortPrefixSectors"/>) and
    /// reports that many bytes, as a backend that ran out of room mid-write would.
    /// </summary>
    Short,
}
