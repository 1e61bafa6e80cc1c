namespace LoopOrder.Queues.Backends;

/// <summary>
/// Storage that others can resize while it is served (an RBD image: <c>rbd resize</c> by an
/// administrator, by another client through the lock holder), so a device serving all of it can
/// follow. A file is not: a file shortened behind the daemon is a fault (the truncation guard's),
/// not a resize.
/// </summary>
public interface IExternallyResizable : IBackend
{
    /// <summary>The storage's size now, which may differ from <see cref="IBackend.Length"/> after a change from outside.</summary>
    long StorageLength { get; }

    /// <summary>
    /// Raised on a thread-pool thread (never on the storage library's own) after the storage may
    /// have changed size; <see cref="StorageLength"/> says what it is now. Raised for this
    /// daemon's own <see cref="IResizableBackend.Resize"/> as well.
    /// </summary>
    event Action? StorageResized;

    /// <summary>Serves <paramref name="length"/> bytes, at most <see cref="StorageLength"/>, without touching the storage (following a change from outside).</summary>
    /// <param name="length">The size to serve, a positive multiple of 512.</param>
    void Follow(long length);
}
