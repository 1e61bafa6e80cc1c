using LoopOrder.Queues.Backends;
using LoopOrder.Queues.Dispatch;
using LoopOrder.Queues.Engine;
using LoopOrder.Queues.Ordering;
using LoopOrder.Queues.Requests;
using LoopOrder.Queues.Tests.Dispatch;
using LoopOrder.Verification.Backends;

namespace LoopOrder.Queues.Tests.Engine;

public sealed class BlockEngineTests
{
    private static readonly TimeSpan HangLimit = TimeSpan.FromSeconds(60);

    [Fact]
    public void DefaultsAreDocumented()
    {
        var o = new EngineOptions();
        Assert.Equal(OrderingMode.Drain, o.Mode);
        Assert.Equal(4096, o.MaxInFlight);
        Assert.Equal(1, o.WorkersPerNode);
        Assert.Null(o.Topology);
        Assert.Null(o.Observer);
        Assert.False(o.Inline);
        Assert.True(o.OwnsBackend);
        Assert.True(o.PinWorkers);
        Assert.Equal(512, o.LogicalBlockSize);
    }

    [Fact]
    public void BuildsOverTheMachineTopologyByDefault()
    {
        using var engine = BlockEngine.Create(new MemoryBackend(1 << 20));
        Assert.Equal(NumaTopology.Read().NodeCount, engine.Topology.NodeCount);
        Assert.Equal(OrderingMode.Drain, engine.Sequencer.Mode);
        Assert.NotNull(engine.SocketDispatcher);
        Assert.Equal(engine.Topology.NodeCount, engine.SocketDispatcher!.AllWorkers.Count());
    }

    [Fact]
    public unsafe void InlineEngineRunsOnTheCallingThread()
    {
        var backend = new ControlledBackend(1 << 20);
        using var engine = BlockEngine.Create(backend, new EngineOptions { Inline = true, Mode = OrderingMode.Strict, OwnsBackend = false });
        Assert.Null(engine.SocketDispatcher);
        Assert.Equal(OrderingMode.Strict, engine.Sequencer.Mode);
        var completion = new CountingCompletion();
        using var buffers = new NativeBuffers();
        var w = new BlockRequest(0, 0, completion);
        w.Prepare(BlockOp.Write, RequestFlags.None, 0, 1, RequestBuffer.Memory(buffers.Allocate(512), 512));
        engine.Submit(w);
        Assert.Equal(1, backend.PendingCount);
        Assert.False(engine.WaitForIdle(TimeSpan.FromMilliseconds(20)));
        backend.CompleteOldest();
        Assert.Equal(512, completion.Results[w]);
        Assert.True(engine.WaitForIdle(TimeSpan.Zero));
        Assert.True(engine.Shutdown(TimeSpan.Zero));
        backend.Dispose();
    }

    [Fact]
    public void ShutdownRefusesWhileRequestsAreOutstandingAndDisposesOwnedBackendAfter()
    {
        var backend = new GateBackend();
        var engine = BlockEngine.Create(backend, new EngineOptions { Topology = NumaTopology.FromNodes([0]) });
        var completion = new CountingCompletion { Target = 1 };
        var f = new BlockRequest(0, 0, completion);
        f.Prepare(BlockOp.Flush, RequestFlags.None, 0, 0, RequestBuffer.None);
        engine.Submit(f);

        Assert.False(engine.Shutdown(TimeSpan.FromMilliseconds(50)));
        Assert.False(backend.Disposed);
        Assert.True(engine.SocketDispatcher!.AllWorkers.Single().IsAlive);

        backend.Open.Set();
        Assert.True(completion.Reached.Wait(HangLimit));
        Assert.True(engine.Shutdown(HangLimit));
        Assert.True(backend.Disposed);
        Assert.False(engine.SocketDispatcher!.AllWorkers.Single().IsAlive);
        engine.Dispose(); // idempotent
    }

    /// <summary>Completes each operation only once <see cref="Open"/> is set.</summary>
    private sealed class GateBackend : IBackend
    {
        public ManualResetEventSlim Open { get; } = new();

        public bool Disposed { get; private set; }

        public long Length => 1 << 20;

        public bool IsReadOnly => false;

        public IBackendExecutor CreateExecutor(IBackendCompletion completion) => new Executor(this, completion);

        public void Dispose() => Disposed = true;

        private sealed class Executor(GateBackend owner, IBackendCompletion completion) : IBackendExecutor
        {
            private readonly Queue<BlockRequest> _started = new();
            private readonly SemaphoreSlim _wake = new(0);

            public void Start(BlockRequest request) => _started.Enqueue(request);

            public void Poll(bool block)
            {
                if (_started.Count == 0)
                {
                    if (block)
                    {
                        _wake.Wait();
                    }

                    return;
                }

                // Blocked on the gate: look again every 10 ms (a Wake in between is not missed for long).
                if (!owner.Open.Wait(block ? 10 : 0))
                {
                    return;
                }

                while (_started.TryDequeue(out BlockRequest? r))
                {
                    completion.Landed(r, 0);
                }
            }

            public void Wake() => _wake.Release();

            public void Dispose() => _wake.Dispose();
        }
    }
}
