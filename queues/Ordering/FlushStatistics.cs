namespace LoopOrder.Queues.Ordering;

/// <summary>
/// Where a device's flushes spent their time inside the engine, summed over every flush
/// acknowledged so far. A flush's engine latency splits into three consecutive parts that add up:
/// <see cref="WaitedForWrites"/> (from receipt until every write received before it had landed),
/// <see cref="WaitedBehindSyncs"/> (ready, but waiting on other syncs: for its own sync to start, or
/// for an earlier sync to end before it may be acknowledged) and <see cref="InSync"/> (its own sync
/// running). In mode none a flush syncs at once, so only <see cref="InSync"/> grows.
/// </summary>
/// <param name="Flushes">Flushes acknowledged (including any failed without a sync because an error is latched).</param>
/// <param name="Syncs">Syncs (fdatasync) that ended; one sync may answer several flushes.</param>
/// <param name="WaitedForWrites">Total time flushes waited for earlier writes to land.</param>
/// <param name="WaitedBehindSyncs">Total time flushes whose earlier writes had landed waited on other syncs.</param>
/// <param name="InSync">Total time flushes spent with their own sync running.</param>
/// <param name="SyncTime">Total time the syncs ran, each counted once however many flushes it answered.</param>
/// <param name="PeakSyncsInFlight">The most syncs that ran at the same time.</param>
public readonly record struct FlushStatistics(
    long Flushes,
    long Syncs,
    TimeSpan WaitedForWrites,
    TimeSpan WaitedBehindSyncs,
    TimeSpan InSync,
    TimeSpan SyncTime,
    int PeakSyncsInFlight);
