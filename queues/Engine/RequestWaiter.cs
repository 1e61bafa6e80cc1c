using LoopOrder.Queues.Requests;

namespace LoopOrder.Queues.Engine;

/// <summary>
/// The completion of one request that a thread outside the ring waits for (the daemon's final
/// flush, a snapshot's barrier): its result, and an event to wait on.
/// </summary>
/// <remarks>
/// Not disposable on purpose: a request abandoned on timeout still completes later, into this
/// object, and <see cref="ManualResetEventSlim"/> makes no kernel handle unless a wait spins out.
/// </remarks>
public sealed class RequestWaiter : IRequestCompletion
{
    private readonly ManualResetEventSlim _done = new(false);

    /// <summary>The request's result (0 or a negative errno); meaningful once <see cref="Wait"/> returned true.</summary>
    public int Result { get; private set; }

    /// <inheritdoc />
    public void Complete(BlockRequest request, int result)
    {
        Result = result;
        _done.Set();
    }

    /// <summary>Waits for the completion; false when <paramref name="timeout"/> passed first.</summary>
    /// <param name="timeout">How long to wait.</param>
    public bool Wait(TimeSpan timeout) => _done.Wait(timeout);
}
