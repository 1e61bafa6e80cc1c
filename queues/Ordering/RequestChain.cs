using LoopOrder.Queues.Requests;

namespace LoopOrder.Queues.Ordering;

/// <summary>
/// A FIFO chain of requests built under the Sequencer's lock and walked after it is released:
/// requests to dispatch, or requests to acknowledge. Lives on the stack; links through
/// <see cref="BlockRequest.ChainNext"/>, so a request is on at most one chain at a time.
/// </summary>
internal struct RequestChain
{
    private BlockRequest? _head;
    private BlockRequest? _tail;

    public readonly bool IsEmpty => _head is null;

    public void Add(BlockRequest r, int result = 0)
    {
        r.ChainNext = null;
        r.ChainResult = result;
        if (_tail is null)
        {
            _head = r;
        }
        else
        {
            _tail.ChainNext = r;
        }

        _tail = r;
    }

    /// <summary>Takes the oldest request off the chain, or returns null.</summary>
    public BlockRequest? Take()
    {
        BlockRequest? r = _head;
        if (r is not null)
        {
            _head = r.ChainNext;
            if (_head is null)
            {
                _tail = null;
            }

            r.ChainNext = null;
        }

        return r;
    }
}
