using LoopOrder.Queues.Backends;
using LoopOrder.Queues.Dispatch;
using LoopOrder.Queues.Requests;
using LoopOrder.Queues.Tracking;

namespace LoopOrder.Queues.Snapshots;

/// <summary>
/// Puts a <see cref="CopyOnWrite"/> gate just before the backend's dispatcher: the Sequencer has
/// ordered every request by then, so a first touch of a chunk since a snapshot is held here until
/// its old contents are preserved; everything else goes straight through.
/// </summary>
/// <remarks>
/// Holding here changes nothing the Sequencer promises, as for the change tracker's hold: a held
/// write has simply not landed yet, and a failed copy fails it like a failed write (EIO, latched).
/// </remarks>
public sealed class CopyOnWriteDispatcher : IRequestDispatcher, ITrackerSink
{
    private readonly CopyOnWrite _gate;
    private readonly IRequestDispatcher _inner;
    private readonly IBackendCompletion _completion;

    /// <summary>Wraps <paramref name="inner"/>; the gate is owned from here (disposed first, so nothing is released into a disposed dispatcher).</summary>
    public CopyOnWriteDispatcher(CopyOnWrite gate, IRequestDispatcher inner, IBackendCompletion completion)
    {
        ArgumentNullException.ThrowIfNull(gate);
        ArgumentNullException.ThrowIfNull(inner);
        ArgumentNullException.ThrowIfNull(completion);
        _gate = gate;
        _inner = inner;
        _completion = completion;
        gate.Attach(this);
    }

    /// <summary>The dispatcher behind it.</summary>
    public IRequestDispatcher Inner => _inner;

    /// <inheritdoc />
    public void Dispatch(BlockRequest request)
    {
        int verdict = _gate.Admit(request);
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
        _gate.Dispose();
        _inner.Dispose();
    }
}
