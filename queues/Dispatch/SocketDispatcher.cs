using System.Diagnostics;
using System.Threading.Channels;
using LoopOrder.Interop;
using LoopOrder.Queues.Backends;
using LoopOrder.Queues.Requests;

namespace LoopOrder.Queues.Dispatch;

/// <summary>
/// The production dispatcher (DESIGN.md, "Data flow"): one bounded channel per socket (NUMA node)
/// and, per node, <c>workersPerNode</c> dedicated OS threads pinned to the node's CPUs, each
/// owning one backend executor. <see cref="Dispatch"/> routes a request by
/// <see cref="BlockRequest.Node"/> and wakes the node's worker only when it is blocked
/// (see <see cref="SocketWorker"/> for the sleep protocol and why no wake is lost).
/// </summary>
/// <remarks>
/// <para>Allocation: a bounded channel keeps its items in a growable array; once it has grown to
/// the peak depth, TryWrite and TryRead allocate nothing (the unbounded channel's linked segments
/// would allocate as they roll over). No async API is used, so no waiter objects exist either.</para>
/// <para>Shutdown contract: the owner first waits until the Sequencer has nothing outstanding
/// (<see cref="Ordering.Sequencer.Outstanding"/> == 0, which <see cref="Engine.BlockEngine"/> does),
/// then disposes. <see cref="Dispose"/> still lets each worker finish every operation it started
/// before it exits (so the kernel never writes into memory whose owner went away), and joins the
/// threads; a request dispatched after that fails with <see cref="ObjectDisposedException"/>.</para>
/// <para>Failures: executors report I/O errors as results. An exception that escapes an executor or
/// a completion callback on a worker thread is a bug and, like any unhandled exception on a
/// dedicated thread, ends the process: the requests that worker holds could never be answered.</para>
/// </remarks>
public sealed class SocketDispatcher : IRequestDispatcher
{
    /// <summary>Each node's channel writer, by node index.</summary>
    private readonly ChannelWriter<BlockRequest>[] _writers;

    /// <summary>Each node's workers, by node index.</summary>
    private readonly SocketWorker[][] _workers;

    /// <summary>The backend, for the submitting threads' lanes (<see cref="AttachSubmitter"/>).</summary>
    private readonly IBackend _backend;

    /// <summary>Where executors report landed requests (the Sequencer); lanes report there too.</summary>
    private readonly IBackendCompletion _completion;

    /// <summary>Set by <see cref="Dispose"/>; Interlocked.</summary>
    private int _disposed;

    /// <summary>Starts the workers; returns once every one is pinned and has its executor.</summary>
    /// <param name="backend">The backend; each worker makes its own executor from it, on its own thread.</param>
    /// <param name="completion">Where executors report landed requests (the Sequencer).</param>
    /// <param name="topology">The nodes and their CPUs; one channel and <paramref name="workersPerNode"/> workers per node.</param>
    /// <param name="capacity">
    /// The most requests that can be in the engine at once (submitted, not acknowledged). Every
    /// node's channel holds that many, so a write to it never fails whatever the routing.
    /// </param>
    /// <param name="workersPerNode">
    /// Worker threads per node. 1 is the default and the right choice in most cases: one executor
    /// (one io_uring) keeps a whole queue depth in flight from one thread, so more threads add
    /// wake-ups and cache traffic, not parallelism; and on a small machine (this project's is 2
    /// cores) a second worker per node only competes with the queue threads for a core. More help
    /// only when a backend blocks in its calls instead of queueing them.
    /// </param>
    /// <param name="pinWorkers">Pin each worker to its node's CPUs (those this process may use); false leaves them to the scheduler.</param>
    /// <exception cref="InvalidOperationException">A worker could not pin itself or make its executor.</exception>
    public SocketDispatcher(IBackend backend, IBackendCompletion completion, NumaTopology topology, int capacity, int workersPerNode = 1, bool pinWorkers = true)
    {
        ArgumentNullException.ThrowIfNull(backend);
        ArgumentNullException.ThrowIfNull(completion);
        ArgumentNullException.ThrowIfNull(topology);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(capacity);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(workersPerNode);
        _backend = backend;
        _completion = completion;
        Topology = topology;
        Capacity = capacity;
        WorkersPerNode = workersPerNode;

        // The CPUs this process may run on (a cpuset or taskset may exclude some of a node's):
        // pinning to none of them would fail, so each worker gets the intersection, or no pin.
        int[] allowed = pinWorkers ? CpuAffinity.GetCurrentThreadAffinity() : [];
        int nodes = topology.NodeCount;
        _writers = new ChannelWriter<BlockRequest>[nodes];
        _workers = new SocketWorker[nodes][];
        for (int node = 0; node < nodes; node++)
        {
            var channel = Channel.CreateBounded<BlockRequest>(new BoundedChannelOptions(capacity)
            {
                SingleReader = workersPerNode == 1,
                SingleWriter = false,
                FullMode = BoundedChannelFullMode.Wait,
                AllowSynchronousContinuations = false,
            });
            _writers[node] = channel.Writer;
            int[] cpus = pinWorkers ? [.. topology.CpusOf(node).ToArray().Intersect(allowed)] : [];
            _workers[node] = new SocketWorker[workersPerNode];
            for (int i = 0; i < workersPerNode; i++)
            {
                _workers[node][i] = new SocketWorker(node, i, channel.Reader, backend, completion, cpus);
            }
        }

        foreach (SocketWorker w in AllWorkers)
        {
            w.Begin();
        }

        try
        {
            foreach (SocketWorker w in AllWorkers)
            {
                w.WaitStarted();
            }
        }
        catch
        {
            StopAndJoin();
            throw;
        }
    }

    /// <summary>The nodes requests are routed over.</summary>
    public NumaTopology Topology { get; }

    /// <summary>Capacity of each node's channel: the most requests the engine may hold at once.</summary>
    public int Capacity { get; }

    /// <summary>Worker threads per node.</summary>
    public int WorkersPerNode { get; }

    /// <summary>Every worker, node by node.</summary>
    internal IEnumerable<SocketWorker> AllWorkers => _workers.SelectMany(static w => w);

    /// <summary>The workers of node index <paramref name="node"/>.</summary>
    internal IReadOnlyList<SocketWorker> WorkersOf(int node) => _workers[node];

    /// <summary>
    /// Gives the calling thread a <see cref="SubmitterLane"/>: from now on a write without FUA
    /// that is released on this thread runs on it (see there). Null when the backend has no such
    /// writes (direct I/O, memory). Dispose the lane on the same thread, before it exits.
    /// </summary>
    /// <exception cref="InvalidOperationException">The thread already holds a lane.</exception>
    /// <exception cref="ObjectDisposedException">The dispatcher was disposed.</exception>
    public SubmitterLane? AttachSubmitter()
    {
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        return SubmitterLane.Attach(this, _backend, _completion);
    }

    /// <summary>
    /// Runs <paramref name="request"/> on the calling thread's lane when it is a write a lane
    /// takes and the thread holds one of this dispatcher's; otherwise queues it on the channel of
    /// node <see cref="BlockRequest.Node"/> and wakes the first of that node's workers found
    /// blocked; none when none is, since a worker that is awake looks at the channel again before
    /// it blocks.
    /// A node index outside the topology is a caller bug (asserted); in release builds it goes to
    /// node 0 rather than losing the request. Any thread; allocates nothing.
    /// </summary>
    /// <exception cref="InvalidOperationException">More requests than <see cref="Capacity"/> are in the engine.</exception>
    /// <exception cref="ObjectDisposedException">The dispatcher was disposed.</exception>
    public void Dispatch(BlockRequest request)
    {
        Debug.Assert(request is not null);
        if (request.Op is BlockOp.Read or BlockOp.Write && request.Buffer.TryGetTransport(out IRegisteredData? transport)
            && (request.Buffer.Kind == RequestBufferKind.Registered || _backend is IRegisteredFile { PrefersTransportTransfers: true }))
        {
            // Zero copy: no thread of ours can reach the pages; the transport's ring moves them.
            // Memory the transport's ring reaches too, over a file that would rather: the ring
            // that received the request moves its data, with no hand-over to a worker and back.
            StartRegistered(transport, request);
            return;
        }

        if (request.IsPlainWrite && SubmitterLane.Current is { } lane && lane.Owner == this)
        {
            lane.Run(request);
            return;
        }

        int node = request.Node;
        Debug.Assert((uint)node < (uint)_writers.Length, $"{request} routed to node {node} of {_writers.Length}");
        if ((uint)node >= (uint)_writers.Length)
        {
            node = 0;
        }

        if (!_writers[node].TryWrite(request))
        {
            ThrowWriteFailed(request);
        }

        // One worker per node is the common case: no loop, no array walk beyond one element.
        SocketWorker[] workers = _workers[node];
        for (int i = 0; i < workers.Length; i++)
        {
            if (workers[i].WakeIfSleeping())
            {
                return;
            }
        }
    }

    /// <summary>
    /// Stops the workers once each has finished what it started, and joins them. Call only after
    /// the Sequencer is idle (see the class remarks).
    /// </summary>
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        StopAndJoin();
    }

    private void StopAndJoin()
    {
        foreach (SocketWorker w in AllWorkers)
        {
            w.Stop();
        }

        foreach (SocketWorker w in AllWorkers)
        {
            w.Join();
        }

        foreach (ChannelWriter<BlockRequest> writer in _writers)
        {
            writer.TryComplete();
        }
    }

    private void StartRegistered(IRegisteredData registered, BlockRequest request)
    {
        if (_backend is IRegisteredFile file)
        {
            registered.StartTransfer(request, file, _completion);
        }
        else
        {
            // The transport offers zero copy only over a file: a bug, failed rather than lost.
            Debug.Fail($"{request}: registered data over a backend without a file");
            _completion.Landed(request, Errno.EIO.ToResult());
        }
    }

    private void ThrowWriteFailed(BlockRequest request)
    {
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        Debug.Fail($"{request}: channel full: more than {Capacity} requests in the engine");
        throw new InvalidOperationException($"{request}: more than {Capacity} requests are in the engine (capacity too small)");
    }
}
