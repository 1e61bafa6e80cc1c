using LoopOrder.Queues.Tracking;

namespace LoopOrder.Verification.Tracking;

/// <summary>When a region was marked durable, on the trace's clock: the mark came after every event up to <paramref name="AfterClock"/>.</summary>
/// <param name="AfterClock">The trace recorder's clock when the mark was made (the last event before it).</param>
/// <param name="Region">The region.</param>
/// <param name="Generation">The tracker generation the mark is durable in (1 until the first snapshot).</param>
public readonly record struct RegionMark(long AfterClock, long Region, ulong Generation = 1);

/// <summary>Records the tracker's marks against a <see cref="TraceRecorder"/>'s clock (the "region marked" event of the CBT rule).</summary>
public sealed class RegionMarkRecorder(TraceRecorder recorder) : IChangeTrackerObserver
{
    private readonly List<RegionMark> _marks = [];

    /// <summary>The marks, in the order they were made.</summary>
    public IReadOnlyList<RegionMark> Marks => _marks;

    /// <inheritdoc />
    public void Marked(ulong generation, long region) => _marks.Add(new RegionMark(recorder.Clock, region, generation));
}
