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
}
