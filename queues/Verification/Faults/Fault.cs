using LoopOrder.Interop;
using LoopOrder.Queues.Requests;

namespace LoopOrder.Verification.Faults;

/// <summary>
/// What an injected fault does to the request it hits: the request fails with
/// <see cref="Errno"/>, after the first <see cref="LandedSectors"/> of its sectors landed (a short
/// write; 0 for every other fault, so nothing is read, written or synced). The one fault model of
/// the fault plan (<c>--inject-faults</c>), the <see cref="Backends.FaultInjectingBackend"/> and
/// the <see cref="ControlledScheduler"/>.
/// </summary>
/// <remarks>
/// A short write always ends in an error, never in a short count: a backend resumes a short
/// transfer by itself (the file executor does), so the only short write that reaches the engine
/// is one whose retry failed; and the engine treats a write that landed partly as failed
/// (DESIGN.md's C5), which a short count would only reach through its normalisation.
/// </remarks>
/// <param name="Errno">The errno the request fails with; <see cref="Interop.Errno.None"/> for <see cref="None"/>.</param>
/// <param name="LandedSectors">The sectors of a write that land before it fails: a prefix, fewer than the write's.</param>
public readonly record struct Fault(Errno Errno, uint LandedSectors = 0)
{
    /// <summary>Sectors in 4 KiB.</summary>
    private const uint PageSectors = 4096 >> BlockRequest.SectorShift;

    /// <summary>No fault: the request runs as the backend runs it.</summary>
    public static Fault None => default;

    /// <summary>Fails with EIO; nothing lands.</summary>
    public static Fault Eio => new(Interop.Errno.EIO);

    /// <summary>Fails with ENOSPC; nothing lands.</summary>
    public static Fault NoSpace => new(Interop.Errno.ENOSPC);

    /// <summary>True for <see cref="None"/>.</summary>
    public bool IsNone => Errno == Interop.Errno.None;

    /// <summary>The bytes that land before the request fails.</summary>
    public int LandedBytes => (int)(LandedSectors << BlockRequest.SectorShift);

    /// <summary>The result the backend reports for the request: the negative errno.</summary>
    public int Result => Errno.ToResult();

    /// <summary>
    /// What <paramref name="effect"/> does to a request of <paramref name="sectorCount"/> sectors:
    /// EIO, ENOSPC, or for <see cref="FaultEffect.Short"/> its <see cref="ShortPrefixSectors"/>
    /// land, then EIO (the fault the kernel sees is the same as an EIO's: the write failed).
    /// </summary>
    /// <param name="effect">The plan's word for the fault.</param>
    /// <param name="sectorCount">The request's sectors.</param>
    public static Fault Of(FaultEffect effect, uint sectorCount) => effect switch
    {
        FaultEffect.Eio => Eio,
        FaultEffect.Enospc => NoSpace,
        FaultEffect.Short => new(Interop.Errno.EIO, ShortPrefixSectors(sectorCount)),
        _ => throw new ArgumentOutOfRangeException(nameof(effect), effect, "not a fault effect"),
    };

    /// <summary>A write that lands its first <paramref name="landedSectors"/> sectors, then fails with ENOSPC (the disk filled mid-write).</summary>
    /// <param name="landedSectors">The prefix that lands.</param>
    public static Fault ShortNoSpace(uint landedSectors) => new(Interop.Errno.ENOSPC, landedSectors);

    /// <summary>
    /// The sectors a plan's short write of <paramref name="sectorCount"/> sectors lands: the first
    /// half, cut down to whole 4 KiB when that leaves any (so a direct-I/O file still takes it),
    /// else to whole sectors (so a one-sector write lands nothing).
    /// </summary>
    /// <param name="sectorCount">The write's sectors.</param>
    public static uint ShortPrefixSectors(uint sectorCount)
    {
        uint half = sectorCount / 2;
        uint pages = half & ~(PageSectors - 1);
        return pages > 0 ? pages : half;
    }

    /// <summary>"none", "EIO", "ENOSPC", or for a short write "short(N)+ERRNO" with N the sectors that land.</summary>
    public override string ToString() =>
        IsNone ? "none" : LandedSectors > 0 ? $"short({LandedSectors})+{Errno.Name()}" : Errno.Name();
}
