using System.Buffers.Binary;
using System.Collections.Concurrent;
using LoopOrder.Interop;
using LoopOrder.Queues.Backends;
using LoopOrder.Queues.Dispatch;
using LoopOrder.Queues.Engine;
using LoopOrder.Queues.Ordering;
using LoopOrder.Queues.Requests;

namespace LoopOrder.Queues.Tests.Dispatch;

public sealed class SocketDispatcherTests
{
    /// <summary>Far beyond any healthy run of these tests: only a hang reaches it, and then the test fails.</summary>
    private static readonly TimeSpan HangLimit = TimeSpan.FromSeconds(120);

    /// <summary>Two fake nodes of one CPU each (both CPU 0 on a one-CPU machine would collide, so the second gets CPU 1, which pins to nothing there).</summary>
    private static NumaTopology TwoNodes() => NumaTopology.FromNodes([0], [1]);

    [Fact]
    public void RoutesEachRequestToItsNodesWorkerPinnedToThatNode()
    {
        var backend = new RecordingBackend(1 << 20);
        var completion = new CountingCompletion { Target = 200 };
        using var buffers = new NativeBuffers();
        using var engine = BlockEngine.Create(backend, new EngineOptions { Topology = TwoNodes(), MaxInFlight = 256 });
        SocketDispatcher dispatcher = engine.SocketDispatcher!;
        int[] allowed = CpuAffinity.GetCurrentThreadAffinity();

        var requests = new List<BlockRequest>();
        for (int i = 0; i < 200; i++)
        {
            var r = new BlockRequest(0, i, completion) { Node = i % 2 };
            r.Prepare(i % 10 == 9 ? BlockOp.Flush : BlockOp.Write, RequestFlags.None, (ulong)i, i % 10 == 9 ? 0u : 1u, RequestBuffer.Memory(buffers.Allocate(512), 512));
            requests.Add(r);
            engine.Submit(r);
        }

        Assert.True(completion.Reached.Wait(HangLimit), "requests did not complete");
        Assert.True(engine.WaitForIdle(HangLimit));

        Assert.Equal(2, backend.Executors.Count);
        for (int node = 0; node < 2; node++)
        {
            SocketWorker worker = Assert.Single(dispatcher.WorkersOf(node));
            RecordingBackend.RecordingExecutor executor = Assert.Single(backend.Executors, e => e.ThreadId == worker.ManagedThreadId);
            int[] expected = [.. dispatcher.Topology.CpusOf(node).ToArray().Intersect(allowed)];
            Assert.Equal(expected, worker.Cpus.ToArray());
            Assert.Equal(expected.Length > 0 ? expected : allowed, executor.Affinity);
            Assert.NotEqual(Environment.CurrentManagedThreadId, worker.ManagedThreadId);
        }

        foreach (BlockRequest r in requests)
        {
            // A flush that joins the sync in flight never reaches a backend: its carrier syncs for it.
            if (backend.StartedOn.TryGetValue(r, out int thread) || r.Op == BlockOp.Write)
            {
                Assert.Equal(dispatcher.WorkersOf(r.Node)[0].ManagedThreadId, thread);
            }

            Assert.Equal(r.Op == BlockOp.Write ? 512 : 0, completion.Results[r]);
        }

        Assert.Contains(requests, r => r.Op == BlockOp.Flush && backend.StartedOn.ContainsKey(r));
    }

    [Fact]
    public void SeveralWorkersPerNodeShareTheNodesChannel()
    {
        var backend = new RecordingBackend(1 << 20);
        var completion = new CountingCompletion { Target = 1000 };
        using var buffers = new NativeBuffers();
        using var engine = BlockEngine.Create(backend, new EngineOptions { Topology = TwoNodes(), WorkersPerNode = 3, MaxInFlight = 1024 });
        SocketDispatcher dispatcher = engine.SocketDispatcher!;
        var requests = new List<BlockRequest>();
        for (int i = 0; i < 1000; i++)
        {
            var r = new BlockRequest(0, i, completion) { Node = i % 2 };
            r.Prepare(BlockOp.Write, RequestFlags.None, (ulong)i, 1, RequestBuffer.Memory(buffers.Allocate(512), 512));
            requests.Add(r);
            engine.Submit(r);
        }

        Assert.True(completion.Reached.Wait(HangLimit), "requests did not complete");
        Assert.Equal(6, backend.Executors.Count);
        foreach (BlockRequest r in requests)
        {
            Assert.Contains(backend.StartedOn[r], dispatcher.WorkersOf(r.Node).Select(w => w.ManagedThreadId));
        }
    }

    [Fact]
    public void ManyProducersThroughMemoryBackendAllCompleteCorrectly()
    {
        const int Producers = 6;
        const int PairsPerProducer = 20_000;
        const int SlotsPerProducer = 8;
        const int RegionSectors = 1024; // > slots in flight: a sector is never rewritten while its read is out
        var backend = new MemoryBackend((long)Producers * RegionSectors * BlockRequest.SectorSize);
        using var engine = BlockEngine.Create(backend, new EngineOptions { Topology = TwoNodes(), MaxInFlight = Producers * SlotsPerProducer, OwnsBackend = false });
        var failures = new ConcurrentQueue<string>();
        var threads = new Thread[Producers];
        var producers = new StressProducer[Producers];
        for (int p = 0; p < Producers; p++)
        {
            producers[p] = new StressProducer(engine, p, SlotsPerProducer, RegionSectors, PairsPerProducer, failures);
            threads[p] = new Thread(producers[p].Run) { IsBackground = true, Name = $"producer{p}" };
        }

        foreach (Thread t in threads)
        {
            t.Start();
        }

        DateTime deadline = DateTime.UtcNow + HangLimit;
        foreach (Thread t in threads)
        {
            TimeSpan left = deadline - DateTime.UtcNow;
            Assert.True(t.Join(left > TimeSpan.Zero ? left : TimeSpan.Zero), $"hang: {t.Name} did not finish; outstanding {engine.Sequencer.Outstanding}");
        }

        Assert.True(engine.WaitForIdle(HangLimit), "hang: engine did not go idle");
        Assert.Empty(failures);
        Assert.Equal(Producers * PairsPerProducer * 2, producers.Sum(p => p.Completed));
        Assert.True(engine.Shutdown(HangLimit));
        foreach (StressProducer p in producers)
        {
            p.Dispose();
        }

        backend.Dispose();
    }

    [Fact]
    public void DisposeStopsAndJoinsWorkersAndDisposesExecutors()
    {
        var backend = new RecordingBackend(1 << 20);
        var engine = BlockEngine.Create(backend, new EngineOptions { Topology = TwoNodes(), WorkersPerNode = 2 });
        SocketWorker[] workers = [.. engine.SocketDispatcher!.AllWorkers];
        Assert.All(workers, w => Assert.True(w.IsAlive));

        engine.Dispose();

        Assert.All(workers, w => Assert.False(w.IsAlive));
        Assert.All(backend.Executors, e => Assert.True(e.Disposed));
        Assert.Throws<ObjectDisposedException>(() =>
        {
            var r = new BlockRequest(0, 0, new CountingCompletion());
            r.Prepare(BlockOp.Flush, RequestFlags.None, 0, 0, RequestBuffer.None);
            engine.SocketDispatcher!.Dispatch(r);
        });
    }

    [Fact]
    public void AnIdleWorkerSleepsAndIsWokenBySubmit()
    {
        var backend = new RecordingBackend(1 << 20);
        var completion = new CountingCompletion();
        using var engine = BlockEngine.Create(backend, new EngineOptions { Topology = NumaTopology.FromNodes([0]) });
        SocketWorker worker = engine.SocketDispatcher!.WorkersOf(0)[0];
        var r = new BlockRequest(0, 0, completion);
        for (int round = 1; round <= 50; round++)
        {
            // Wait until the worker is blocked, so every submit exercises the wake path.
            SpinWait.SpinUntil(() => worker.IsSleeping, HangLimit);
            Assert.True(worker.IsSleeping);
            completion.Target = round;
            completion.Reached.Reset();
            r.Prepare(BlockOp.Flush, RequestFlags.None, 0, 0, RequestBuffer.None);
            engine.Submit(r);
            Assert.True(completion.Reached.Wait(HangLimit), $"round {round}: a sleeping worker was not woken");
        }
    }

    [Fact]
    public void StartFailureIsReportedAndOtherWorkersStop()
    {
        var backend = new FailingBackend();
        InvalidOperationException e = Assert.Throws<InvalidOperationException>(() =>
            new SocketDispatcher(backend, new NullCompletion(), TwoNodes(), 16));
        Assert.Contains("no executor", e.Message, StringComparison.Ordinal);
    }

    private sealed class NullCompletion : IBackendCompletion
    {
        public void Landed(BlockRequest request, int result)
        {
        }
    }

    private sealed class FailingBackend : IBackend
    {
        private int _made;

        public long Length => 1 << 20;

        public bool IsReadOnly => false;

        public IBackendExecutor CreateExecutor(IBackendCompletion completion) =>
            Interlocked.Increment(ref _made) == 2
                ? throw new IOException("no executor")
                : new MemoryBackend(4096).CreateExecutor(completion);

        public void Dispose()
        {
        }
    }

    /// <summary>
    /// One producer thread: writes a stamp to a sector of its own region and at once reads it back
    /// (the read overlaps the in-flight write, so the Sequencer must hold it until the write
    /// landed), with a flush every 64 requests; requests alternate nodes.
    /// </summary>
    private sealed unsafe class StressProducer : IRequestCompletion, IDisposable
    {
        private readonly BlockEngine _engine;
        private readonly int _id;
        private readonly int _regionSectors;
        private readonly int _pairs;
        private readonly ConcurrentQueue<string> _failures;
        private readonly ConcurrentQueue<BlockRequest> _free = new();
        private readonly SemaphoreSlim _slots;
        private readonly NativeBuffers _buffers = new();
        private readonly ConcurrentDictionary<BlockRequest, long> _expected = new();
        private readonly int _slotCount;
        private int _completed;

        public StressProducer(BlockEngine engine, int id, int slots, int regionSectors, int pairs, ConcurrentQueue<string> failures)
        {
            _engine = engine;
            _id = id;
            _regionSectors = regionSectors;
            _pairs = pairs;
            _failures = failures;
            _slots = new SemaphoreSlim(slots);
            _slotCount = slots;
            for (int i = 0; i < slots; i++)
            {
                var r = new BlockRequest(id, i, this);
                r.Prepare(BlockOp.Flush, RequestFlags.None, 0, 0, RequestBuffer.Memory(_buffers.Allocate(BlockRequest.SectorSize), BlockRequest.SectorSize));
                _free.Enqueue(r);
            }
        }

        public int Completed => Volatile.Read(ref _completed);

        public void Run()
        {
            long n = 0;
            for (int pair = 0; pair < _pairs; pair++)
            {
                ulong sector = (ulong)((_id * _regionSectors) + (pair % _regionSectors));
                long stamp = ((long)_id << 32) | (uint)pair;
                Issue(BlockOp.Write, sector, stamp, n++);
                Issue(BlockOp.Read, sector, stamp, n++);
                if (pair % 32 == 31)
                {
                    Issue(BlockOp.Flush, 0, 0, n++);
                }
            }

            // Wait for our own requests before returning, so Completed is final.
            if (!SpinWait.SpinUntil(() => _slots.CurrentCount == _slotCount, HangLimit))
            {
                _failures.Enqueue($"producer {_id}: requests never came back");
            }
        }

        private void Issue(BlockOp op, ulong sector, long stamp, long n)
        {
            if (!_slots.Wait(HangLimit))
            {
                _failures.Enqueue($"producer {_id}: no slot came back");
                throw new TimeoutException();
            }

            _free.TryDequeue(out BlockRequest? r);
            nint buffer = r!.Buffer.Address;
            if (op == BlockOp.Write)
            {
                BinaryPrimitives.WriteInt64LittleEndian(new Span<byte>((void*)buffer, 8), stamp);
            }
            else
            {
                new Span<byte>((void*)buffer, 8).Clear();
            }

            _expected[r] = stamp;
            r.Node = (int)(n % 2);
            r.Prepare(op, RequestFlags.None, sector, op == BlockOp.Flush ? 0u : 1u, RequestBuffer.Memory(buffer, BlockRequest.SectorSize));
            _engine.Submit(r);
        }

        public void Complete(BlockRequest request, int result)
        {
            int want = request.Op == BlockOp.Flush ? 0 : BlockRequest.SectorSize;
            if (result != want)
            {
                _failures.Enqueue($"{request}: result {result}, want {want}");
            }

            if (request.Op == BlockOp.Read)
            {
                long got = BinaryPrimitives.ReadInt64LittleEndian(new ReadOnlySpan<byte>((void*)request.Buffer.Address, 8));
                if (got != _expected[request])
                {
                    _failures.Enqueue($"{request}: read stamp {got:x}, want {_expected[request]:x}");
                }
            }

            if (request.Op != BlockOp.Flush)
            {
                Interlocked.Increment(ref _completed);
            }

            _free.Enqueue(request);
            _slots.Release();
        }

        public void Dispose()
        {
            _buffers.Dispose();
            _slots.Dispose();
        }
    }
}
