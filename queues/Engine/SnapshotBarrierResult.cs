namespace LoopOrder.Queues.Engine;

/// <summary>What a snapshot barrier (<see cref="BlockEngine.Snapshot"/>) cost.</summary>
/// <param name="BarrierSequence">The barrier's place in the receive order: every write with a lower sequence number is in the snapshot, none with a higher one.</param>
/// <param name="WritesHeld">How long writes received after the barrier were held: from placing it to releasing them (drain, sync and cut).</param>
/// <param name="Drain">From placing the barrier to its flush's acknowledgement: earlier writes landing, then the sync.</param>
/// <param name="Cut">How long the cut itself took.</param>
/// <param name="ClosedGeneration">The change-tracking generation the barrier closed (every write received before the barrier is in it or an earlier one, every later write in a later one); 0 without tracking.</param>
public readonly record struct SnapshotBarrierResult(long BarrierSequence, TimeSpan WritesHeld, TimeSpan Drain, TimeSpan Cut, ulong ClosedGeneration = 0);
