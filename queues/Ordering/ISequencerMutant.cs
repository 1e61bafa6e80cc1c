using LoopOrder.Queues.Requests;

namespace LoopOrder.Queues.Ordering;

/// <summary>
/// A deliberate breakage of the <see cref="Sequencer"/>, for proving that the trace checker can
/// fail. The Sequencer consults it at the few points where it enforces a rule of DESIGN.md; each
/// member decides whether to break that rule for one request. Production passes none (null), and
/// each point then costs one null check. The breakages live in LoopOrder.Verification.
/// </summary>
public interface ISequencerMutant
{
    /// <summary>Whether <paramref name="request"/> starts without waiting for the earlier unlanded writes it overlaps (D3).</summary>
    /// <param name="request">A read or write-class request, as it is received and as an earlier write lands.</param>
    bool ShouldSkipOverlapWait(BlockRequest request);

    /// <summary>Strict mode: whether <paramref name="write"/> starts without being held behind an unacknowledged flush (D2).</summary>
    /// <param name="write">A write-class request, as it is received.</param>
    bool ShouldSkipStrictHold(BlockRequest write);

    /// <summary>Whether <paramref name="write"/> starts without being held behind a snapshot barrier still in place (breaks the snapshot rule).</summary>
    /// <param name="write">A write-class request, as it is received while a barrier is in place.</param>
    bool ShouldSkipSnapshotHold(BlockRequest write);

    /// <summary>Drain and strict: whether <paramref name="flush"/>'s sync starts before every earlier write landed (D1).</summary>
    /// <param name="flush">The oldest flush whose sync has not started.</param>
    bool ShouldSkipFlushWait(BlockRequest flush);

    /// <summary>Whether a failed sync is reported as success and not latched (C5).</summary>
    /// <param name="flush">The flush that carried the sync.</param>
    /// <param name="result">The sync's negative errno.</param>
    bool ShouldIgnoreSyncError(BlockRequest flush, int result);

    /// <summary>Whether <paramref name="request"/> is acknowledged when it starts, before it lands (C3).</summary>
    /// <param name="request">A read or write-class request, as it starts.</param>
    bool ShouldAcknowledgeBeforeLanding(BlockRequest request);

    /// <summary>
    /// Changed-block tracking: whether <paramref name="write"/> is dispatched to the backend before
    /// its regions' bits are durable in the tracker's metadata (breaks the CBT rule). Consulted by
    /// the change tracker, not the Sequencer.
    /// </summary>
    /// <param name="write">A write-class request whose regions are not yet marked, as it is dispatched.</param>
    bool ShouldSkipMarkWait(BlockRequest write);
}
