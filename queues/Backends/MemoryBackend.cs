using LoopOrder.Queues.Requests;

namespace LoopOrder.Queues.Backends;

/// <summary>
/// A backend in memory: every op is done when it starts and reported on the next poll. For tests
/// and for benchmarks of the engine without a disk.
/// </summary>
public sealed class MemoryBackend : IBackend
{
    /// <summary>Creates a zeroed device of <paramref name="length"/> bytes.</summary>
    public MemoryBackend(long length, bool readOnly = false)
    {
        Store = new SectorStore(length);
        IsReadOnly = readOnly;
    }

    /// <summary>The device's bytes.</summary>
    public SectorStore Store { get; }

    /// <inheritdoc />
    public long Length => Store.Length;

    /// <inheritdoc />
    public bool IsReadOnly { get; }

    /// <inheritdoc />
    public IBackendExecutor CreateExecutor(IBackendCompletion completion) => new Executor(Store, completion);

    /// <inheritdoc />
    /// <remarks>
    /// A write here is a copy that finishes in the call, like a buffered file write, so a queue
    /// thread runs it itself: the memory target is the transport floor of the benchmarks, and a
    /// hand-over to a socket worker the file target does not make would make the floor a ceiling.
    /// </remarks>
    public IBackendExecutor? CreateSubmitterExecutor(IBackendCompletion completion)
    {
        ArgumentNullException.ThrowIfNull(completion);
        return new Executor(Store, completion);
    }

    /// <inheritdoc />
    public void Dispose() => Store.Dispose();

    private sealed class Executor(SectorStore store, IBackendCompletion completion) : IBackendExecutor
    {
        /// <summary>Started and done, not yet reported; owner thread only. Sized so steady state never grows it.</summary>
        private readonly Queue<BlockRequest> _done = new(256);

        /// <summary>Counts wakes, so a Wake before a blocking Poll is not lost.</summary>
        private readonly SemaphoreSlim _wake = new(0);

        public void Start(BlockRequest request) => _done.Enqueue(request);

        public void Poll(bool block)
        {
            if (_done.Count == 0)
            {
                if (block)
                {
                    _wake.Wait();
                }

                return;
            }

            // Report what was started before this poll and during it (a report may release more).
            while (_done.TryDequeue(out BlockRequest? r))
            {
                completion.Landed(r, store.Apply(r));
            }
        }

        public void Wake() => _wake.Release();

        public void Dispose() => _wake.Dispose();
    }
}
