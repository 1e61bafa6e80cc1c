namespace LoopOrder.Queues.Backends;

/// <summary>
/// Storage behind a device: a file, memory, or a test double. The backend itself holds what is
/// shared (the file, the bytes); each worker thread gets its own <see cref="IBackendExecutor"/>.
/// </summary>
public interface IBackend : IDisposable
{
    /// <summary>Device size in bytes (a multiple of 512).</summary>
    long Length { get; }

    /// <summary>True when writes must fail with EROFS.</summary>
    bool IsReadOnly { get; }

    /// <summary>Creates an executor for one worker thread; it reports completions to <paramref name="completion"/>.</summary>
    IBackendExecutor CreateExecutor(IBackendCompletion completion);

    /// <summary>
    /// Creates an executor for a thread that submits requests (a ublk queue thread), for the one
    /// kind of request that needs no worker: a write without FUA that lands in a cache and
    /// finishes inside the call. Only such writes are started on it, and each one is reported
    /// (landed or failed) before the next <c>Poll(block: false)</c> on the same thread returns.
    /// Null (the default) when this backend has no such writes: direct I/O, remote and test
    /// backends, whose writes then all go through the socket workers.
    /// </summary>
    /// <param name="completion">Where the executor reports landed writes.</param>
    IBackendExecutor? CreateSubmitterExecutor(IBackendCompletion completion) => null;
}
