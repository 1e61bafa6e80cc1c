using LoopOrder.Queues.Backends;
using LoopOrder.Queues.Requests;

namespace LoopOrder.Queues.Dispatch;

/// <summary>
/// Puts an <see cref="IWriteGate"/> between the Sequencer and the dispatcher that reaches the
/// backend: the Sequencer has already ordered every request it dispatches, so this is the last
/// point before the backend, where a rule of the form "X is durable before the write lands"
/// belongs (the change tracker's mark, a copy-on-write snapshot's copy). A write the gate holds is
/// not passed on until the gate releases it; everything else goes straight through.
/// </summary>
/// <remarks>
/// Holding here changes nothing the Sequencer promises: a held write is simply not landed yet, so
/// a flush waits for it (D1), later overlapping requests wait for it (D3), and a write the gate
/// fails is reported to the Sequencer as a failed write (EIO, latched like any failed write: C5).
/// </remarks>
public sealed class GatedDispatcher : IRequestDispatcher, IGateSink
{
    private readonly IWriteGate _gate;
    private readonly IRequestDispatcher _inner;
    private readonly IBackendCompletion _completion;
    private readonly bool _ownsGate;

    /// <summary>Wraps <paramref name="inner"/>; held writes that fail are reported to <paramref name="completion"/> (the Sequencer).</summary>
    /// <param name="gate">The gate; this dispatcher becomes its sink.</param>
    /// <param name="inner">The dispatcher that reaches the backend.</param>
    /// <param name="completion">Where a write failed by the gate is reported, as if the backend had failed it.</param>
    /// <param name="ownsGate">Dispose the gate with this dispatcher (first, so nothing is released into a disposed dispatcher).</param>
    public GatedDispatcher(IWriteGate gate, IRequestDispatcher inner, IBackendCompletion completion, bool ownsGate = true)
    {
        ArgumentNullException.ThrowIfNull(gate);
        ArgumentNullException.ThrowIfNull(inner);
        ArgumentNullException.ThrowIfNull(completion);
        _gate = gate;
        _inner = inner;
        _completion = completion;
        _ownsGate = ownsGate;
        gate.Attach(this);
    }

    /// <summary>The gate.</summary>
    public IWriteGate Gate => _gate;

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
    void IGateSink.Release(BlockRequest write) => _inner.Dispatch(write);

    /// <inheritdoc />
    void IGateSink.Fail(BlockRequest write, int result) => _completion.Landed(write, result);

    /// <inheritdoc />
    public void Dispose()
    {
        if (_ownsGate)
        {
            _gate.Dispose(); // its thread stops first: nothing is released into a disposed dispatcher
        }

        _inner.Dispose();
    }
}
