using LoopOrder.Queues.Backends;
using LoopOrder.Queues.Dispatch;
using LoopOrder.Queues.Engine;
using LoopOrder.Queues.Requests;
using LoopOrder.Queues.Tests.Dispatch;

namespace LoopOrder.Queues.Tests.Engine;

/// <summary>Runs alone: the process-wide allocation count must not see other tests' allocations.</summary>
[CollectionDefinition(nameof(AllocationCollection), DisableParallelization = true)]
public sealed class AllocationCollection;

[Collection(nameof(AllocationCollection))]
public sealed class AllocationTests
{
    private const int WarmupCycles = 20_000;
    private const int MeasuredCycles = 100_000;

    /// <summary>
    /// Measured windows. The submitting and worker threads must allocate nothing in every one; the
    /// whole process is judged by its quietest window, because the test runner reports earlier
    /// tests' results from its own threads at times of its choosing (tens of KB seen in a window).
    /// An allocation per request would show in every window.
    /// </summary>
    private const int Windows = 3;

    /// <summary>
    /// Process-wide slack: what the runtime and the test runner allocate on their own threads while
    /// this test runs, and the test's own idle wait (Thread.Sleep was seen to allocate 24-80 B on
    /// this runtime), all independent of the number of requests. A single allocation per request would be at least 24 B × 100k = 2.4 MB, 150 times this.
    /// </summary>
    private const long ProcessSlackBytes = 16 * 1024;

    private static readonly TimeSpan HangLimit = TimeSpan.FromSeconds(60);

    [Fact]
    public void SteadyStateSubmitToCompletionAllocatesNothing()
    {
        var backend = new ProbeBackend(new MemoryBackend(1 << 20));
        using var engine = BlockEngine.Create(backend, new EngineOptions { Topology = NumaTopology.FromNodes([0]), MaxInFlight = 64 });
        using var buffers = new NativeBuffers();
        var completion = new SignalCompletion();
        var slot = new BlockRequest(0, 0, completion);
        nint buffer = buffers.Allocate(4096);
        SocketWorker worker = engine.SocketDispatcher!.WorkersOf(0)[0];

        Cycle(engine, slot, completion, buffer, WarmupCycles);
        WaitUntilWorkerBlocked(worker);

        long quietestProcessDelta = long.MaxValue;
        for (int window = 0; window < Windows; window++)
        {
            long thread0 = GC.GetAllocatedBytesForCurrentThread();
            long worker0 = backend.WorkerAllocatedBytes;
            long total0 = GC.GetTotalAllocatedBytes(precise: true);

            Cycle(engine, slot, completion, buffer, MeasuredCycles);

            // Read before waiting for the worker: the idle wait's sleeps are the test's, not the engine's.
            long thread1 = GC.GetAllocatedBytesForCurrentThread();
            WaitUntilWorkerBlocked(worker);
            long worker1 = backend.WorkerAllocatedBytes;
            long total1 = GC.GetTotalAllocatedBytes(precise: true);

            Assert.Equal(0, thread1 - thread0);
            Assert.Equal(0, worker1 - worker0);
            quietestProcessDelta = Math.Min(quietestProcessDelta, total1 - total0);
        }

        Assert.InRange(quietestProcessDelta, 0, ProcessSlackBytes);
    }

    /// <summary>
    /// The queue thread's own path for buffered writes (<see cref="SubmitterLane"/>): the write is
    /// received, run with pwrite and acknowledged inside Submit, all on this thread, and none of
    /// it may allocate.
    /// </summary>
    [Fact]
    public void Writes_on_the_submitting_threads_lane_allocate_nothing()
    {
        const int LaneCycles = 20_000;
        using var dir = new Backends.FileTestDir();
        string path = dir.Create("disk", 1 << 20);
        using var engine = BlockEngine.Create(new FileBackend(new FileBackendOptions { Path = path }), new EngineOptions { Topology = NumaTopology.FromNodes([0]), PinWorkers = false });
        using var buffers = new NativeBuffers();
        var completion = new SignalCompletion();
        var slot = new BlockRequest(0, 0, completion);
        nint buffer = buffers.Allocate(4096);
        using SubmitterLane lane = Assert.IsType<SubmitterLane>(engine.AttachSubmitter());

        LaneWrites(engine, slot, completion, buffer, LaneCycles);
        for (int window = 0; window < Windows; window++)
        {
            long thread0 = GC.GetAllocatedBytesForCurrentThread();
            LaneWrites(engine, slot, completion, buffer, LaneCycles);
            Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - thread0);
        }

        Assert.Equal((Windows + 1) * LaneCycles, lane.Writes);
    }

    private static void LaneWrites(BlockEngine engine, BlockRequest slot, SignalCompletion completion, nint buffer, int cycles)
    {
        for (int i = 0; i < cycles; i++)
        {
            slot.Prepare(BlockOp.Write, RequestFlags.None, (ulong)(i % 256) * 8, 8, RequestBuffer.Memory(buffer, 4096));
            engine.Submit(slot);
            if (!completion.Wait(HangLimit) || completion.Result != 4096)
            {
                Assert.Fail($"cycle {i}: write result {completion.Result}");
            }
        }
    }

    /// <summary>Submit → wait for the acknowledgement, <paramref name="cycles"/> times: a write, a read of it, a flush.</summary>
    private static void Cycle(BlockEngine engine, BlockRequest slot, SignalCompletion completion, nint buffer, int cycles)
    {
        for (int i = 0; i < cycles; i++)
        {
            BlockOp op = (i % 3) switch { 0 => BlockOp.Write, 1 => BlockOp.Read, _ => BlockOp.Flush };
            uint sectors = op == BlockOp.Flush ? 0u : 8u;
            slot.Prepare(op, RequestFlags.None, (ulong)(i % 256) * 8, sectors, RequestBuffer.Memory(buffer, 4096));
            engine.Submit(slot);
            if (!completion.Wait(HangLimit))
            {
                Assert.Fail($"cycle {i}: no acknowledgement");
            }

            if (completion.Result != (op == BlockOp.Flush ? 0 : 4096))
            {
                Assert.Fail($"cycle {i}: {op} result {completion.Result}");
            }
        }
    }

    /// <summary>Waits until the worker is parked in its blocking poll, so its last counter reading is final.</summary>
    private static void WaitUntilWorkerBlocked(SocketWorker worker)
    {
        // A plain loop: SpinUntil's lambda would allocate its closure inside the measured window.
        long deadline = Environment.TickCount64 + (long)HangLimit.TotalMilliseconds;
        while (!worker.IsSleeping)
        {
            if (Environment.TickCount64 > deadline)
            {
                Assert.Fail("the worker never went idle");
            }

            Thread.Sleep(1);
        }

        // IsSleeping is set just before the blocking poll, whose entry records the counter.
        Thread.Sleep(50);
    }

    /// <summary>
    /// A one-shot signal on a preallocated monitor. Not ManualResetEventSlim: that creates its lock
    /// object the first time a wait really blocks, which may happen only after warm-up (24 B seen).
    /// </summary>
    private sealed class SignalCompletion : IRequestCompletion
    {
        private readonly object _gate = new();
        private bool _done;

        public int Result { get; private set; }

        public void Complete(BlockRequest request, int result)
        {
            lock (_gate)
            {
                Result = result;
                _done = true;
                Monitor.Pulse(_gate);
            }
        }

        /// <summary>Waits for the acknowledgement and re-arms; false on timeout.</summary>
        public bool Wait(TimeSpan timeout)
        {
            lock (_gate)
            {
                while (!_done)
                {
                    if (!Monitor.Wait(_gate, timeout))
                    {
                        return false;
                    }
                }

                _done = false;
                return true;
            }
        }
    }

    /// <summary>Wraps a backend; its executor records the worker thread's allocation count on every poll.</summary>
    private sealed class ProbeBackend(IBackend inner) : IBackend
    {
        private long _workerBytes;

        public long WorkerAllocatedBytes => Volatile.Read(ref _workerBytes);

        public long Length => inner.Length;

        public bool IsReadOnly => inner.IsReadOnly;

        public IBackendExecutor CreateExecutor(IBackendCompletion completion) => new Executor(this, inner.CreateExecutor(completion));

        public void Dispose() => inner.Dispose();

        private sealed class Executor(ProbeBackend owner, IBackendExecutor inner) : IBackendExecutor
        {
            public void Start(BlockRequest request) => inner.Start(request);

            public void Poll(bool block)
            {
                Volatile.Write(ref owner._workerBytes, GC.GetAllocatedBytesForCurrentThread());
                inner.Poll(block);
                Volatile.Write(ref owner._workerBytes, GC.GetAllocatedBytesForCurrentThread());
            }

            public void Wake() => inner.Wake();

            public void Dispose() => inner.Dispose();
        }
    }
}
