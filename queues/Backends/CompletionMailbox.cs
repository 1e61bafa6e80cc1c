namespace LoopOrder.Queues.Backends;

/// <summary>
/// Results finished on threads an executor does not own (librbd's callbacks, an NBD connection's
/// receive thread), handed to the executor's own thread, which reports them from
/// <see cref="IBackendExecutor.Poll"/>: a report may start more requests, and those belong on that
/// thread. One lock (the queue itself); <see cref="Wake"/> ends a blocked take.
/// </summary>
/// <typeparam name="T">What a finished request leaves to report.</typeparam>
internal sealed class CompletionMailbox<T>
{
    /// <summary>Finished, not yet reported; under itself. Sized so steady state never grows it.</summary>
    private readonly Queue<T> _done = new(256);

    /// <summary>A wake arrived while nothing was waiting: the next blocking take returns at once. Under <see cref="_done"/>.</summary>
    private bool _woken;

    /// <summary>Hands over one result (any thread).</summary>
    public void Post(T item)
    {
        lock (_done)
        {
            _done.Enqueue(item);
            Monitor.Pulse(_done);
        }
    }

    /// <summary>Ends the owner's blocked take (or the next one) without a result.</summary>
    public void Wake()
    {
        lock (_done)
        {
            _woken = true;
            Monitor.Pulse(_done);
        }
    }

    /// <summary>
    /// The next result, if any. With <paramref name="block"/>, waits once for a post or a wake
    /// first; either way <paramref name="block"/> is false afterwards, so a loop of takes drains
    /// what is there and then returns. Owner thread only.
    /// </summary>
    public bool TryTake(ref bool block, out T item)
    {
        lock (_done)
        {
            while (true)
            {
                if (_done.Count != 0)
                {
                    item = _done.Dequeue();
                    block = false;
                    return true;
                }

                if (!block || _woken)
                {
                    _woken = false;
                    item = default!;
                    return false;
                }

                Monitor.Wait(_done);
                block = false;
            }
        }
    }
}
