namespace LoopOrder.Verification.Faults;

/// <summary>
/// The fault plan's words for a fault (<c>eio</c>, <c>enospc</c>, <c>short</c>); what each does
/// to the request it hits is the <see cref="Fault"/> that <see cref="Fault.Of"/> makes of it.
/// </summary>
public enum FaultEffect : byte
{
    /// <summary>Fails with EIO; the request never reaches the backend, so nothing is read, written or synced.</summary>
    Eio,

    /// <summary>A write fails with ENOSPC; nothing is written.</summary>
    Enospc,

    /// <summary>
    /// A write lands only a prefix (<see cref="Fault.ShortPrefixSectors"/>), then fails with EIO,
    /// as a backend whose retry of a short transfer failed would.
    /// </summary>
    Short,
}
