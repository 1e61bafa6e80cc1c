using LoopOrder.Queues.Requests;

namespace LoopOrder.Queues.Ordering;

/// <summary>
/// Sees the two events only the Sequencer knows: receipt and acknowledgement, both called under
/// its lock at the moment it decides them, so a recorder's clock agrees with sequence numbers and
/// with every start the decision released. The completion itself is delivered a little later,
/// outside the lock; an acknowledgement recorded early only makes the checker stricter.
/// The recording backend sees the rest (land and sync start/end).
/// </summary>
public interface ISequencerObserver
{
    /// <summary>The request was received and given its sequence number. Called under the Sequencer's lock: be quick, do not call back.</summary>
    void Received(BlockRequest request, long sequence);

    /// <summary>The request is acknowledged with <paramref name="result"/>. Called under the Sequencer's lock.</summary>
    void Acknowledged(BlockRequest request, long sequence, int result);
}
