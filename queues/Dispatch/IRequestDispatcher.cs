using LoopOrder.Queues.Requests;

namespace LoopOrder.Queues.Dispatch;

/// <summary>
/// Takes requests the Sequencer has released and gets them to a backend executor: the
/// per-socket channels and workers in production, a direct call in deterministic tests.
/// </summary>
public interface IRequestDispatcher : IDisposable
{
    /// <summary>Runs <paramref name="request"/> on the backend. Never called under the Sequencer's lock.</summary>
    void Dispatch(BlockRequest request);
}
