using LoopOrder.Queues.Requests;

namespace LoopOrder.Queues.Backends;

/// <summary>
/// Runs backend operations for one worker thread, many in flight at once. Only the owning
/// thread calls <see cref="Start"/> and <see cref="Poll"/>; any thread may call <see cref="Wake"/>.
/// Operations: <see cref="BlockOp.Read"/>, <see cref="BlockOp.Write"/> (FUA: durable before
/// completion), <see cref="BlockOp.Discard"/> (punch a hole), <see cref="BlockOp.WriteZeroes"/>
/// (zero range; punch when NOUNMAP is clear) and <see cref="BlockOp.Flush"/> (fdatasync).
/// The Sequencer has already ordered and bounds-checked every request it starts.
/// </summary>
public interface IBackendExecutor : IDisposable
{
    /// <summary>Begins <paramref name="request"/>; its completion is reported later, from <see cref="Poll"/> or another thread.</summary>
    void Start(BlockRequest request);

    /// <summary>
    /// Pushes started work to the device and reports finished work. With <paramref name="block"/>,
    /// waits until at least one operation finished or <see cref="Wake"/> was called.
    /// </summary>
    void Poll(bool block);

    /// <summary>From any thread: makes a blocked (or the next) <see cref="Poll"/> return.</summary>
    void Wake();
}
