namespace LoopOrder.Queues.Targets.Nbd;

/// <summary>Where a connection reports that a command finished.</summary>
public interface INbdCompletion
{
    /// <summary>
    /// The command submitted with <paramref name="state"/> finished. <paramref name="result"/> is
    /// the byte count for a read or write, 0 for a flush, trim or write-zeroes, or a negative errno
    /// (a command refused before sending, an error from the server, EIO when the connection
    /// dropped). Called exactly once per submit: on the connection's reader thread, or inside
    /// Submit on the submitting thread (a command refused before it is sent, or one whose reply
    /// arrived before its send call returned). It must not block, and
    /// must not submit on the same connection from the reader thread: a send there can wait on a
    /// server that has stopped reading until its own replies are read.
    /// </summary>
    /// <param name="state">What the submitter passed (no allocation: pass an object it already has).</param>
    /// <param name="result">Bytes, 0, or a negative errno.</param>
    void Completed(object? state, int result);
}
