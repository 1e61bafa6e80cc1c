using LoopOrder.Queues.Requests;

namespace LoopOrder.Queues.Tracking;

/// <summary>Where a gate that holds writes (a <see cref="ChangeTracker"/>, a <see cref="Snapshots.CopyOnWrite"/>) sends them once they may go on (its dispatcher).</summary>
public interface ITrackerSink
{
    /// <summary>The write's regions are durable: dispatch it to the backend.</summary>
    void Release(BlockRequest write);

    /// <summary>The metadata could not be made durable: the write fails with <paramref name="result"/> and never reaches the backend.</summary>
    void Fail(BlockRequest write, int result);
}
