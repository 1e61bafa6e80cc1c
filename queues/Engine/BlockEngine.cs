using System.Diagnostics;
using LoopOrder.Queues.Backends;
using LoopOrder.Queues.Dispatch;
using LoopOrder.Queues.Ordering;
using LoopOrder.Queues.Requests;
using LoopOrder.Queues.Snapshots;
using LoopOrder.Queues.Tracking;

namespace LoopOrder.Queues.Engine;

/// <summary>
/// One device's engine, as the transport, the service and the benchmarks use it: a
/// <see cref="Ordering.Sequencer"/> over a <see cref="SocketDispatcher"/> (or an
/// <see cref="InlineDispatcher"/> for deterministic tests) over a backend.
/// </summary>
/// <remarks>
/// Submit from any thread; each request's acknowledgement goes to its own
/// <see cref="BlockRequest.Completion"/>, on a worker thread (or the submitting thread, inline).
/// </remarks>
public sealed partial class BlockEngine : IDisposable
{
    /// <summary>Sleep between idle checks while shutting down: shutdown is rare, a core is not worth burning for it.</summary>
    private static readonly TimeSpan IdlePollInterval = TimeSpan.FromMilliseconds(1);

    /// <summary>The dispatcher the Sequencer made (captured from its factory).</summary>
    private readonly IRequestDispatcher _dispatcher;

    /// <summary>The socket dispatcher under any gates, or null inline.</summary>
    private SocketDispatcher? _sockets;

    /// <summary>Set once shut down; Interlocked.</summary>
    private int _disposed;

    private BlockEngine(IBackend backend, EngineOptions options, NumaTopology topology)
    {
        Backend = backend;
        Options = options;
        Topology = topology;
        IRequestDispatcher? dispatcher = null;
        ChangeTracker? tracker = options.Tracking is { } tracking
            ? ChangeTracker.Open(tracking, backend.Length, options.LogicalBlockSize)
            : null;
        Tracker = tracker;
        Sequencer = new Sequencer(
            options.Mode,
            backend.Length,
            completion =>
            {
                IRequestDispatcher inner = options.Inline
                    ? new InlineDispatcher(backend, completion)
                    : new SocketDispatcher(backend, completion, topology, options.MaxInFlight, options.WorkersPerNode, options.PinWorkers);
                _sockets = inner as SocketDispatcher;
                if (options.CopyOnWrite is { } cow)
                {
                    inner = new GatedDispatcher(cow, inner, completion);
                }

                return dispatcher = tracker is null ? inner : new GatedDispatcher(tracker, inner, completion);
            },
            backend.IsReadOnly,
            options.Observer,
            logicalBlockSize: options.LogicalBlockSize);
        _dispatcher = dispatcher!;
    }

    /// <summary>Decides when each request may start.</summary>
    public Sequencer Sequencer { get; }

    /// <summary>The changed-block tracker, or null when <see cref="EngineOptions.Tracking"/> is off.</summary>
    public ChangeTracker? Tracker { get; }

    /// <summary>The sockets requests are routed over (<see cref="BlockRequest.Node"/> indexes it).</summary>
    public NumaTopology Topology { get; }

    /// <summary>The storage.</summary>
    public IBackend Backend { get; }

    /// <summary>The options the engine was built with.</summary>
    public EngineOptions Options { get; }

    /// <summary>The socket dispatcher, or null when the engine runs inline.</summary>
    public SocketDispatcher? SocketDispatcher => _sockets;

    /// <summary>The copy-on-write snapshots' gate (<see cref="EngineOptions.CopyOnWrite"/>), or null.</summary>
    public CopyOnWrite? CopyOnWrite => Options.CopyOnWrite;

    /// <summary>Builds an engine and starts its workers.</summary>
    /// <param name="backend">The storage; disposed with the engine when <see cref="EngineOptions.OwnsBackend"/>.</param>
    /// <param name="options">How to build it; null for the defaults.</param>
    /// <exception cref="InvalidOperationException">A worker could not start (pinning or executor creation failed).</exception>
    public static BlockEngine Create(IBackend backend, EngineOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(backend);
        options ??= new EngineOptions();
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(options.MaxInFlight, nameof(options));
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(options.WorkersPerNode, nameof(options));
        return new BlockEngine(backend, options, options.Topology ?? NumaTopology.Read());
    }

    /// <summary>
    /// Hands a prepared request to the engine. Its acknowledgement arrives once on
    /// <see cref="BlockRequest.Completion"/>. At most <see cref="EngineOptions.MaxInFlight"/>
    /// requests may be in the engine at once. Any thread; allocates nothing.
    /// </summary>
    public void Submit(BlockRequest request)
    {
        // Exact even with concurrent submitters: if the bound holds, the others' requests leave
        // room for this one.
        Debug.Assert(Sequencer.Outstanding < Options.MaxInFlight, $"more than {Options.MaxInFlight} requests in the engine");
        Sequencer.Submit(request);
    }

    /// <summary>
    /// Gives the calling thread (a ublk queue thread, about to submit) its own lane for buffered
    /// writes (<see cref="SubmitterLane"/>), or returns null when there is none to give: an inline
    /// engine, <see cref="EngineOptions.SubmitterWrites"/> off, or a backend without such writes.
    /// Dispose what it returns on the same thread, before the engine is shut down.
    /// </summary>
    /// <exception cref="InvalidOperationException">The thread already holds a lane.</exception>
    public IDisposable? AttachSubmitter() =>
        Options.SubmitterWrites && SocketDispatcher is { } sockets ? sockets.AttachSubmitter() : null;

    /// <summary>
    /// Waits until no request is outstanding (every submitted one acknowledged); true if that
    /// happened within <paramref name="timeout"/> (<see cref="Timeout.InfiniteTimeSpan"/> waits
    /// forever). Sleeps between checks: it is for shutdown and tests, not the I/O path.
    /// </summary>
    public bool WaitForIdle(TimeSpan timeout)
    {
        long start = Stopwatch.GetTimestamp();
        while (Sequencer.Outstanding != 0)
        {
            if (timeout != Timeout.InfiniteTimeSpan && Stopwatch.GetElapsedTime(start) >= timeout)
            {
                return false;
            }

            Thread.Sleep(IdlePollInterval);
        }

        return true;
    }

    /// <summary>
    /// Waits up to <paramref name="timeout"/> for the engine to become idle, then stops and joins
    /// the workers and disposes the backend if the engine owns it; true when done (or already).
    /// False when requests were still outstanding: then nothing is stopped or freed (workers may
    /// still be writing into buffers, and a backend freed under them would corrupt memory), and the
    /// caller may call again. Inline engines have nothing to wait for and stop at once.
    /// </summary>
    public bool Shutdown(TimeSpan timeout)
    {
        if (Volatile.Read(ref _disposed) != 0)
        {
            return true;
        }

        if (!Options.Inline && !WaitForIdle(timeout))
        {
            return false;
        }

        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return true;
        }

        Sequencer.Dispose(); // disposes the dispatcher: workers stop and are joined
        if (Options.OwnsBackend)
        {
            Backend.Dispose();
        }

        return true;
    }

    /// <summary>
    /// <see cref="Shutdown"/> with <see cref="EngineOptions.ShutdownTimeout"/>. If requests are
    /// still outstanding then, the engine is left running (see <see cref="Shutdown"/>); call
    /// <see cref="Shutdown"/> directly to learn whether it stopped.
    /// </summary>
    public void Dispose() => Shutdown(Options.ShutdownTimeout);
}
