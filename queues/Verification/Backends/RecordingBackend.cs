using LoopOrder.Queues.Backends;
using LoopOrder.Queues.Requests;

namespace LoopOrder.Verification.Backends;

/// <summary>
/// Wraps any backend and records, on a <see cref="TraceRecorder"/>, when each operation starts
/// (land-start or sync-start, stamped before the inner executor sees it) and when it ends
/// (land-end or sync-end with its result, stamped before the Sequencer hears of it). Owns the
/// inner backend: disposing this disposes it.
/// </summary>
public sealed class RecordingBackend : IBackend
{
    private readonly IBackend _inner;
    private readonly TraceRecorder _recorder;

    /// <summary>Records what <paramref name="inner"/> does on <paramref name="recorder"/>.</summary>
    public RecordingBackend(IBackend inner, TraceRecorder recorder)
    {
        ArgumentNullException.ThrowIfNull(inner);
        ArgumentNullException.ThrowIfNull(recorder);
        _inner = inner;
        _recorder = recorder;
    }

    /// <inheritdoc />
    public long Length => _inner.Length;

    /// <inheritdoc />
    public bool IsReadOnly => _inner.IsReadOnly;

    /// <inheritdoc />
    public IBackendExecutor CreateExecutor(IBackendCompletion completion)
    {
        ArgumentNullException.ThrowIfNull(completion);
        return new Executor(_inner.CreateExecutor(new CompletionTap(_recorder, completion)), _recorder);
    }

    /// <inheritdoc />
    public IBackendExecutor? CreateSubmitterExecutor(IBackendCompletion completion)
    {
        ArgumentNullException.ThrowIfNull(completion);
        return _inner.CreateSubmitterExecutor(new CompletionTap(_recorder, completion)) is { } inner ? new Executor(inner, _recorder) : null;
    }

    /// <inheritdoc />
    public void Dispose() => _inner.Dispose();

    private sealed class CompletionTap(TraceRecorder recorder, IBackendCompletion next) : IBackendCompletion
    {
        public void Landed(BlockRequest request, int result)
        {
            recorder.BackendEnded(request, result);
            next.Landed(request, result);
        }
    }

    private sealed class Executor(IBackendExecutor inner, TraceRecorder recorder) : IBackendExecutor
    {
        public void Start(BlockRequest request)
        {
            recorder.BackendStarted(request);
            inner.Start(request);
        }

        public void Poll(bool block) => inner.Poll(block);

        public void Wake() => inner.Wake();

        public void Dispose() => inner.Dispose();
    }
}
