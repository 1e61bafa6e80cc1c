using System.Collections.Concurrent;
using System.Runtime.InteropServices;
using LoopOrder.Interop;
using LoopOrder.Queues.Backends;
using LoopOrder.Queues.Requests;

namespace LoopOrder.Queues.Tests.Dispatch;

/// <summary>
/// A backend whose executors record the thread they were made on (and its CPU affinity) and the
/// thread each request started on; operations complete on the next poll, like MemoryBackend.
/// </summary>
internal sealed class RecordingBackend(long length) : IBackend
{
    public long Length => length;

    public bool IsReadOnly => false;

    /// <summary>Executors made so far.</summary>
    public ConcurrentQueue<RecordingExecutor> Executors { get; } = new();

    /// <summary>Managed thread id each request started on, by request.</summary>
    public ConcurrentDictionary<BlockRequest, int> StartedOn { get; } = new();

    public IBackendExecutor CreateExecutor(IBackendCompletion completion)
    {
        var e = new RecordingExecutor(this, completion, Environment.CurrentManagedThreadId, CpuAffinity.GetCurrentThreadAffinity());
        Executors.Enqueue(e);
        return e;
    }

    public void Dispose()
    {
    }

    internal sealed class RecordingExecutor(RecordingBackend owner, IBackendCompletion completion, int threadId, int[] affinity) : IBackendExecutor
    {
        private readonly Queue<BlockRequest> _done = new();
        private readonly SemaphoreSlim _wake = new(0);

        public int ThreadId => threadId;

        public int[] Affinity => affinity;

        public bool Disposed { get; private set; }

        public void Start(BlockRequest request)
        {
            owner.StartedOn[request] = Environment.CurrentManagedThreadId;
            _done.Enqueue(request);
        }

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

            while (_done.TryDequeue(out BlockRequest? r))
            {
                completion.Landed(r, r.Op is BlockOp.Read or BlockOp.Write ? r.ByteCount : 0);
            }
        }

        public void Wake() => _wake.Release();

        public void Dispose()
        {
            Disposed = true;
            _wake.Dispose();
        }
    }
}

/// <summary>Counts acknowledgements and remembers each request's result; signals when a target count is reached.</summary>
internal sealed class CountingCompletion : IRequestCompletion
{
    private int _count;

    public ConcurrentDictionary<BlockRequest, int> Results { get; } = new();

    public ManualResetEventSlim Reached { get; } = new();

    public int Target { get; set; } = int.MaxValue;

    public int Count => Volatile.Read(ref _count);

    public void Complete(BlockRequest request, int result)
    {
        Results[request] = result;
        if (Interlocked.Increment(ref _count) >= Target)
        {
            Reached.Set();
        }
    }
}

/// <summary>Native buffers for tests, freed together.</summary>
internal sealed unsafe class NativeBuffers : IDisposable
{
    private readonly List<nint> _buffers = [];

    public nint Allocate(int bytes)
    {
        nint p = (nint)NativeMemory.AlignedAlloc((nuint)bytes, 4096);
        NativeMemory.Clear((void*)p, (nuint)bytes);
        _buffers.Add(p);
        return p;
    }

    public void Dispose()
    {
        foreach (nint p in _buffers)
        {
            NativeMemory.AlignedFree((void*)p);
        }
    }
}
