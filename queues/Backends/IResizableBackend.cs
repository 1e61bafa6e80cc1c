namespace LoopOrder.Queues.Backends;

/// <summary>Storage whose size <c>loop-order resize</c> can change while it is served: a file, an RBD image.</summary>
public interface IResizableBackend : IBackend
{
    /// <summary>
    /// Sets the storage's size and the size served to <paramref name="length"/>. Growing: the
    /// storage first, then the served size; shrinking: the served size first, then the storage
    /// (what lies past the new end is lost). The caller keeps requests out of the part that goes
    /// away: the kernel's capacity is lowered before a shrink and raised after a grow.
    /// </summary>
    /// <param name="length">The new size in bytes, a positive multiple of 512.</param>
    /// <exception cref="InvalidOperationException">The storage is served read-only.</exception>
    /// <exception cref="Interop.ErrnoException">The storage refused the size; when growing, nothing changed.</exception>
    void Resize(long length);
}
