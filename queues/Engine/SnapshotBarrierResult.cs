namespace LoopOrder.Queues.Engine;

/// <summary>What a snapshot barrier (<see cref="BlockEngine.Snapshot"/>) cost.</summary>
/// <param name="BarrierSequence">The barrier's place in the receive order: every write with a lower sequence number is in the snapshot, none with a higher one.</param>
/// <param name="WritesHeld">How long writes received after the barrier were held: from placing it to releasing them (drain, sync and cut).</param>
/// <param name="Drain">From placing the barrier to its flush's acknowledgement: earlier writes landing, then the sync.</param>
/// <param name="Cut">How long the cut itself took.</param>
public readonly record struct SnapshotBarrierResult(long BarrierSequence, TimeSpan WritesHeld, TimeSpan Drain, TimeSpan Cut);
