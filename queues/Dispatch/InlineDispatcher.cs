using LoopOrder.Queues.Backends;
using LoopOrder.Queues.Requests;

namespace LoopOrder.Queues.Dispatch;

/// <summary>
/// Starts each released request on one executor, on the calling thread: no channels, no workers.
/// With a controlled backend (LoopOrder.Verification) a test or the checker decides every interleaving and a
/// seed reproduces a run exactly. Single-threaded use only.
/// </summary>
public sealed class InlineDispatcher : IRequestDispatcher
{
    private readonly IBackendExecutor _executor;

    /// <summary>True while this dispatcher is polling: completions reported then may release more requests, which are only started, so the stack stays flat.</summary>
    private bool _polling;

    /// <summary>Creates a dispatcher over one executor of <paramref name="backend"/>.</summary>
    public InlineDispatcher(IBackend backend, IBackendCompletion completion)
    {
        ArgumentNullException.ThrowIfNull(backend);
        _executor = backend.CreateExecutor(completion);
    }

    /// <inheritdoc />
    public void Dispatch(BlockRequest request)
    {
        _executor.Start(request);
        if (_polling)
        {
            return;
        }

        _polling = true;
        try
        {
            _executor.Poll(block: false);
        }
        finally
        {
            _polling = false;
        }
    }

    /// <inheritdoc />
    public void Dispose() => _executor.Dispose();
}
