using LoopOrder.Interop;
using LoopOrder.Queues.Requests;

namespace LoopOrder.Queues.Ordering;

/// <summary>What the Sequencer makes of a backend's result before acting on it.</summary>
internal static class BackendResult
{
    /// <summary>
    /// A write that reports fewer bytes than it carries failed: EIO. Passed on, a short count
    /// would tell ublk_drv the write partly succeeded (it completes that part and requeues the
    /// rest), so a backend that could not write everything would be acknowledged as if it had;
    /// and the write must latch the error so no later flush claims its range is durable. Reads
    /// keep their count (the kernel re-asks for the rest, and a 0-byte read is already an
    /// error to it); other results pass unchanged.
    /// </summary>
    /// <param name="request">The request the backend finished.</param>
    /// <param name="result">Bytes, 0, or a negative errno, as the backend reported it.</param>
    public static int Normalize(BlockRequest request, int result) =>
        request.Op == BlockOp.Write && result >= 0 && result != request.ByteCount ? Errno.EIO.ToResult() : result;
}
