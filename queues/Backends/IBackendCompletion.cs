using LoopOrder.Queues.Requests;

namespace LoopOrder.Queues.Backends;

/// <summary>Where an executor reports that a request's backend work finished (the Sequencer).</summary>
public interface IBackendCompletion
{
    /// <summary>
    /// The backend finished <paramref name="request"/>: all its bytes landed (or, for a flush, the
    /// sync ended). <paramref name="result"/> is bytes, 0, or a negative errno. Any thread; once per start.
    /// </summary>
    void Landed(BlockRequest request, int result);
}
