using LoopOrder.Queues.Requests;

namespace LoopOrder.Verification.Tracking;

/// <summary>
/// The CBT rule on a recorded trace (issue 15, item 4): no write, discard or write-zeroes starts
/// landing before every region it touches was marked durable <b>in its generation</b>: the
/// generation a write belongs to is 1 plus the number of snapshot barriers received before it
/// (barrier k closes generation k). Since marks only accumulate within a generation, this is
/// "tracked ⊇ changed" for every generation at every event, so at every instant a crash could happen.
/// </summary>
public static class TrackingChecker
{
    /// <summary>Checks <paramref name="recorder"/>'s land-starts against <paramref name="marks"/>.</summary>
    /// <param name="recorder">The trace.</param>
    /// <param name="marks">When each region was marked (<see cref="RegionMarkRecorder"/>).</param>
    /// <param name="regionSize">Bytes a region stands for.</param>
    /// <param name="barriers">The sequence numbers of the snapshot barriers that closed a generation, in order; none for one generation.</param>
    public static IReadOnlyList<Violation> Check(TraceRecorder recorder, IReadOnlyList<RegionMark> marks, int regionSize, IReadOnlyList<long>? barriers = null)
    {
        ArgumentNullException.ThrowIfNull(recorder);
        ArgumentNullException.ThrowIfNull(marks);
        barriers ??= [];
        var markedAfter = new Dictionary<(ulong Generation, long Region), long>();
        foreach (RegionMark m in marks)
        {
            markedAfter.TryAdd((m.Generation, m.Region), m.AfterClock);
        }

        var found = new List<Violation>();
        foreach (LandedWrite w in LandedWrite.Of(recorder, regionSize, barriers))
        {
            for (long region = w.FirstRegion; region <= w.LastRegion; region++)
            {
                // A mark recorded with clock c happened after event c: it precedes a land-start at e only if c < e.
                if (!markedAfter.TryGetValue((w.Generation, region), out long after) || after >= w.Event.Clock)
                {
                    string when = markedAfter.TryGetValue((w.Generation, region), out long a) ? $"marked only after e{a}" : "never marked";
                    found.Add(new Violation(Invariant.Tracked, $"{w.Request} started landing at e{w.Event.Clock} but region {region} was {when} in its generation {w.Generation}"));
                    break;
                }
            }
        }

        return found;
    }
}
