namespace LoopOrder.Interop.Rbd;

/// <summary>
/// Where librbd's completions of one owner's requests go (<see cref="RbdCompletions"/>). Called on
/// a librbd thread: it must only record the result and wake its owner, never block or call
/// back into librbd.
/// </summary>
public interface IRbdCompletionSink
{
    /// <summary>Request <paramref name="slot"/> (the owner's number, as given at the start) finished with <paramref name="result"/>: bytes or 0, or a negative errno.</summary>
    /// <param name="slot">The owner's slot number.</param>
    /// <param name="result">rbd_aio_get_return_value.</param>
    void RbdCompleted(int slot, long result);
}
