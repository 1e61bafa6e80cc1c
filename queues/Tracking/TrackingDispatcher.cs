using LoopOrder.Queues.Backends;
using LoopOrder.Queues.Dispatch;
using LoopOrder.Queues.Requests;

namespace LoopOrder.Queues.Tracking;

/// <summary>
/// Puts a <see cref="ChangeTracker"/> between the Sequencer and the dispatcher: the Sequencer has
/// already ordered every request it dispatches, so this is the last point before the backend,
/// where the CBT rule belongs. A write to a region whose bit is not yet durable is not passed on
/// until the tracker's commit makes it so; everything else goes straight through.
/// </summary>
/// <remarks>
/// Holding here changes nothing the Sequencer promises: a held write is simply not landed yet, so
/// a flush waits for it (D1), later overlapping requests wait for it (D3), and a failed commit
/// reports it to the Sequencer as a failed write (EIO, latched like any failed write: C5).
/// </remarks>
public sealed class TrackingDispatcher : IRequestDispatcher, ITrackerSink
{
    private readonly ChangeTracker _tracker;
    private readonly IRequestDispatcher _inner;
    private readonly IBackendCompletion _completion;
    private readonly bool _ownsTracker;

    /// <summary>Wraps <paramref name="inner"/>; held writes that fail are reported to <paramref name="completion"/> (the Sequencer).</summary>
    /// <param name="tracker">The device's tracker; this dispatcher becomes its sink.</param>
    /// <param name="inner">The dispatcher that reaches the backend.</param>
    /// <param name="completion">Where a write failed by the tracker is reported, as if the backend had failed it.</param>
    /// <param name="ownsTracker">Dispose the tracker with this dispatcher.</param>
    public TrackingDispatcher(ChangeTracker tracker, IRequestDispatcher inner, IBackendCompletion completion, bool ownsTracker = true)
    {
        ArgumentNullException.ThrowIfNull(tracker);
        ArgumentNullException.ThrowIfNull(inner);
        ArgumentNullException.ThrowIfNull(completion);
        _tracker = tracker;
        _inner = inner;
        _completion = completion;
        _ownsTracker = ownsTracker;
        tracker.Attach(this);
    }

    /// <summary>The tracker.</summary>
    public ChangeTracker Tracker => _tracker;

    /// <summary>The dispatcher behind it.</summary>
    public IRequestDispatcher Inner => _inner;

    /// <inheritdoc />
    public void Dispatch(BlockRequest request)
    {
        int verdict = _tracker.Admit(request);
        if (verdict > 0)
        {
            _inner.Dispatch(request);
        }
        else if (verdict < 0)
        {
            _completion.Landed(request, verdict);
        }
    }

    /// <inheritdoc />
    void ITrackerSink.Release(BlockRequest write) => _inner.Dispatch(write);

    /// <inheritdoc />
    void ITrackerSink.Fail(BlockRequest write, int result) => _completion.Landed(write, result);

    /// <inheritdoc />
    public void Dispose()
    {
        if (_ownsTracker)
        {
            _tracker.Dispose(); // the commit thread stops first: nothing is released into a disposed dispatcher
        }

        _inner.Dispose();
    }
}
