using System.Diagnostics;
using LoopOrder.Interop;
using LoopOrder.Queues.Requests;

namespace LoopOrder.Queues.Engine;

/// <summary>The snapshot barrier as one call: drain, sync, cut, release.</summary>
public sealed partial class BlockEngine
{
    /// <summary>
    /// Takes a snapshot at one point of the receive order: places a barrier
    /// (<see cref="Ordering.Sequencer.PlaceBarrier"/>), waits until every write received before it
    /// has landed and the storage is synced (the barrier flush), runs <paramref name="cut"/> while
    /// every write received after it is held (reads go on), then releases them. The held writes
    /// are released whatever happens, a failed cut or drain included. Blocks the calling thread;
    /// not for the engine's own threads. One snapshot at a time per engine.
    /// </summary>
    /// <param name="cut">Makes the snapshot of the storage (a reflink of the backing file, a copy in tests).</param>
    /// <param name="timeout">How long to wait for the earlier writes and the sync before giving up (nothing is cut then).</param>
    /// <exception cref="ErrnoException">The sync failed, or an earlier write or sync had (the error is latched): EIO; nothing was cut.</exception>
    /// <exception cref="TimeoutException">The earlier writes or the sync did not finish within <paramref name="timeout"/>; nothing was cut.</exception>
    /// <exception cref="InvalidOperationException">Another snapshot's barrier is in place.</exception>
    /// <exception cref="IOException">Changed-block tracking could not close its generation; nothing was cut.</exception>
    public SnapshotBarrierResult Snapshot(Action cut, TimeSpan timeout)
    {
        ArgumentNullException.ThrowIfNull(cut);
        var waiter = new RequestWaiter();

        // The barrier is not one of the transport's tags: it has its own request, made once per
        // snapshot (snapshots are rare; the I/O path allocates nothing for them).
        var barrier = new BlockRequest(queueId: -1, tag: 0, waiter);
        barrier.Prepare(BlockOp.Flush, RequestFlags.None, 0, 0, RequestBuffer.None);
        long placed = Stopwatch.GetTimestamp();
        Sequencer.PlaceBarrier(barrier);
        TimeSpan drain = TimeSpan.Zero, cutTime = TimeSpan.Zero;
        ulong closed = 0;
        try
        {
            if (!waiter.Wait(timeout))
            {
                throw new TimeoutException($"the writes received before the snapshot did not land and sync within {timeout.TotalSeconds:0.#} s; nothing was cut");
            }

            drain = Stopwatch.GetElapsedTime(placed);
            if (waiter.Result < 0)
            {
                // A latched error: some write or sync failed, so the storage may lack an
                // acknowledged write and a snapshot of it would break the promise.
                throw ErrnoException.FromErrno(ErrnoExtensions.ErrnoOf(waiter.Result), "snapshot barrier flush", detail:
                    "a write or sync of this device failed; the snapshot would not hold every acknowledged write");
            }

            // The generation closes here, while the barrier holds every later write: those are
            // admitted by the tracker only after the release, so they are marked in the next
            // generation. Before the cut, so a failed close cuts nothing; a failed cut after it
            // leaves a generation no snapshot names, which unions into the next one harmlessly.
            if (Tracker is { } tracker)
            {
                closed = tracker.CloseGeneration();
            }

            long cutStart = Stopwatch.GetTimestamp();
            cut();
            cutTime = Stopwatch.GetElapsedTime(cutStart);
        }
        finally
        {
            Sequencer.ReleaseBarrier();
        }

        return new SnapshotBarrierResult(barrier.Seq, Stopwatch.GetElapsedTime(placed), drain, cutTime, closed);
    }
}
