namespace LoopOrder.Ublk.Queue;

/// <summary>
/// One queue's counters at one moment, read racily (each field is exact, the set is not a
/// single instant). Requests are counted when their result is committed to the kernel.
/// </summary>
/// <param name="QueueId">The queue.</param>
/// <param name="Reads">READ requests completed.</param>
/// <param name="Writes">WRITE requests completed.</param>
/// <param name="Flushes">FLUSH requests completed.</param>
/// <param name="Discards">DISCARD and WRITE_ZEROES requests completed.</param>
/// <param name="Errors">Requests of any kind completed with an error.</param>
/// <param name="BytesRead">Bytes returned by successful reads.</param>
/// <param name="BytesWritten">Bytes stored by successful writes.</param>
/// <param name="InFlight">Requests handed to the engine and not yet completed.</param>
/// <param name="FlushLatency">Flush latency histogram (receipt to completion), <see cref="LatencyHistogram"/> buckets.</param>
public sealed record UblkQueueStatistics(
    int QueueId,
    long Reads,
    long Writes,
    long Flushes,
    long Discards,
    long Errors,
    long BytesRead,
    long BytesWritten,
    int InFlight,
    long[] FlushLatency);
