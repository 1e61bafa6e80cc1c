using LoopOrder.Queues.Requests;

namespace LoopOrder.Verification.Tracking;

/// <summary>
/// A write, discard or write-zeroes of a trace at the moment it started landing, with the
/// generation it belongs to and the regions it touches: what the CBT rule is checked against,
/// whether against the marks (<see cref="TrackingChecker"/>) or a tracker's sets read back
/// (<see cref="TrackingRun"/>).
/// </summary>
/// <param name="Request">The request.</param>
/// <param name="Event">Its land-start event.</param>
/// <param name="Generation">1 plus the snapshot barriers received before it (barrier k closes generation k).</param>
/// <param name="FirstRegion">The first region it touches.</param>
/// <param name="LastRegion">The last region it touches.</param>
public readonly record struct LandedWrite(RequestRecord Request, TraceEvent Event, ulong Generation, long FirstRegion, long LastRegion)
{
    /// <summary>Every write-class land-start of <paramref name="recorder"/> with a sector, in event order.</summary>
    /// <param name="recorder">The trace.</param>
    /// <param name="regionSize">Bytes a region stands for (a power of two, at least a sector).</param>
    /// <param name="barriers">The sequence numbers of the snapshot barriers, in order.</param>
    public static IEnumerable<LandedWrite> Of(TraceRecorder recorder, int regionSize, IReadOnlyList<long> barriers)
    {
        ArgumentNullException.ThrowIfNull(recorder);
        ArgumentNullException.ThrowIfNull(barriers);
        int shift = System.Numerics.BitOperations.Log2((uint)regionSize) - BlockRequest.SectorShift;
        foreach (TraceEvent e in recorder.Events)
        {
            if (e.Kind != TraceEventKind.LandStart)
            {
                continue;
            }

            RequestRecord r = recorder.Requests[(int)e.Sequence - 1];
            if (!r.IsWriteClass || r.SectorCount == 0)
            {
                continue;
            }

            ulong generation = 1 + (ulong)barriers.Count(b => b < e.Sequence);
            yield return new LandedWrite(r, e, generation, (long)(r.StartSector >> shift), (long)((r.StartSector + r.SectorCount - 1) >> shift));
        }
    }
}
