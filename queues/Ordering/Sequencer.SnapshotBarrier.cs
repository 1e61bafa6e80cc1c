using System.Diagnostics;
using LoopOrder.Queues.Requests;

namespace LoopOrder.Queues.Ordering;

/// <summary>
/// The snapshot barrier (issue 15): a flush placed in the receive order that also holds every
/// write received after it until <see cref="ReleaseBarrier"/>. Its acknowledgement says what a
/// snapshot needs: every write received before it has landed and the storage is synced (the
/// flush's drain and sync, D1, in every mode), and nothing received after it has reached the
/// storage. The caller then cuts the snapshot and releases the held writes. Reads are never held
/// (a read overlapping a held write waits for it, as any read waits for an earlier overlapping
/// write: it must return what was received before it).
/// </summary>
public sealed partial class Sequencer
{
    /// <summary>The barrier in place, or null: every write received after it is held. Guarded by <see cref="_gate"/>.</summary>
    private BlockRequest? _barrier;

    /// <summary>True while a snapshot barrier is in place (placed and not yet released).</summary>
    public bool HasBarrier
    {
        get
        {
            lock (_gate)
            {
                return _barrier is not null;
            }
        }
    }

    /// <summary>
    /// Receives <paramref name="flush"/> (a prepared <see cref="BlockOp.Flush"/>) as a snapshot
    /// barrier: it is acknowledged, on its completion, once every write received before it has
    /// landed and its sync ended (with the sync's result, or -EIO when an error is latched), as a
    /// drain flush is in every mode; every write, discard and write-zeroes received after it is
    /// held until <see cref="ReleaseBarrier"/>, which the caller must call in every case, after
    /// the acknowledgement (a failed one included). One barrier at a time.
    /// </summary>
    /// <param name="flush">A flush request owned by the caller (it is not one of the transport's tags).</param>
    /// <exception cref="InvalidOperationException">A barrier is already in place.</exception>
    public void PlaceBarrier(BlockRequest flush)
    {
        ArgumentNullException.ThrowIfNull(flush);
        if (flush.Op != BlockOp.Flush)
        {
            throw new ArgumentException("a snapshot barrier is a flush request", nameof(flush));
        }

        var ready = default(RequestChain);
        var done = default(RequestChain);
        long ticks = Stopwatch.GetTimestamp();
        lock (_gate)
        {
            if (_barrier is not null)
            {
                throw new InvalidOperationException($"a snapshot barrier ({_barrier}) is already in place");
            }

            // The sequence number and the hold are taken under the same lock: every write received
            // after the barrier has a higher sequence number and sees it in place.
            Receive(flush, ticks);
            _barrier = flush;
            flush.Barrier = true;
            ReceiveFlush(flush, ref ready, ref done);
            AssertInvariants();
        }

        Deliver(ref ready, ref done);
    }

    /// <summary>
    /// Lifts the barrier: the writes it held start (those no strict flush still holds, and whose
    /// overlaps allow). Call once the snapshot is cut, or to abandon it (then possibly before the
    /// barrier flush is acknowledged: it goes on as an ordinary flush, covering what it covered).
    /// </summary>
    /// <exception cref="InvalidOperationException">No barrier is in place.</exception>
    public void ReleaseBarrier()
    {
        var ready = default(RequestChain);
        var done = default(RequestChain);
        lock (_gate)
        {
            if (_barrier is null)
            {
                throw new InvalidOperationException("no snapshot barrier is in place");
            }

            _barrier = null;
            ReleaseHeld(ref ready);
            AssertInvariants();
        }

        Deliver(ref ready, ref done);
    }
}
