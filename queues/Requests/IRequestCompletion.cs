namespace LoopOrder.Queues.Requests;

/// <summary>
/// Where a request's acknowledgement goes: the transport's queue (which commits it to the kernel),
/// or a test. Called exactly once per submission, on whichever thread finished the request, and
/// never while the engine holds its lock, so an implementation may submit again from inside it.
/// </summary>
public interface IRequestCompletion
{
    /// <summary>
    /// The request is done. <paramref name="result"/> is the byte count for reads and writes,
    /// 0 for flush, discard and write-zeroes, or a negative errno.
    /// </summary>
    void Complete(BlockRequest request, int result);
}
