using LoopOrder.Queues.Dispatch;
using LoopOrder.Queues.Ordering;

namespace LoopOrder.Queues.Engine;

/// <summary>How <see cref="BlockEngine.Create"/> builds an engine. Every property has a working default.</summary>
public sealed class EngineOptions
{
    /// <summary>
    /// Default <see cref="MaxInFlight"/>: ublk's largest queue depth (UBLK_MAX_QUEUE_DEPTH, 4096),
    /// which also covers the usual shapes (e.g. 32 queues × depth 128). It only sizes the channels'
    /// bound, 8 bytes a slot per node, grown on demand.
    /// </summary>
    public const int DefaultMaxInFlight = 4096;

    /// <summary>The ordering promise (DESIGN.md, "The contract"). Default <see cref="OrderingMode.Drain"/>.</summary>
    public OrderingMode Mode { get; init; } = OrderingMode.Drain;

    /// <summary>
    /// The most requests submitted and not yet acknowledged at any instant; the transport must
    /// never exceed it (queues × queue depth). Default <see cref="DefaultMaxInFlight"/>.
    /// </summary>
    public int MaxInFlight { get; init; } = DefaultMaxInFlight;

    /// <summary>The sockets to spread workers over; null reads /sys (<see cref="NumaTopology.Read"/>).</summary>
    public NumaTopology? Topology { get; init; }

    /// <summary>Worker threads per node; 1 is right almost always (see <see cref="SocketDispatcher"/>).</summary>
    public int WorkersPerNode { get; init; } = 1;

    /// <summary>Pin each worker to its node's CPUs. Default true.</summary>
    public bool PinWorkers { get; init; } = true;

    /// <summary>
    /// The device's logical block size in bytes: 512 (the default) or 4096. The kernel sends a
    /// device with 4096-byte blocks only whole, aligned blocks, so the engine fails anything else
    /// with EINVAL before it reaches the backend.
    /// </summary>
    public int LogicalBlockSize { get; init; } = 512;

    /// <summary>
    /// Let threads that attach (<see cref="BlockEngine.AttachSubmitter"/>: the ublk queue threads)
    /// run the buffered writes without FUA that the Sequencer releases on them, instead of handing
    /// them to a socket worker (see <see cref="SubmitterLane"/> for why). Default true. False sends
    /// every request through the channels; it changes speed, never what is promised.
    /// </summary>
    public bool SubmitterWrites { get; init; } = true;

    /// <summary>
    /// Changed-block tracking (<see cref="Tracking.ChangeTracker"/>): null (the default) for none,
    /// and then nothing on the write path changes. When set, a write, discard or write-zeroes is
    /// dispatched to the backend only once its regions' bits are durable in the metadata file.
    /// </summary>
    public Tracking.TrackerOptions? Tracking { get; init; }

    /// <summary>
    /// Copy-on-write snapshots (<see cref="Snapshots.CopyOnWrite"/>): null (the default) for none.
    /// When set, the engine owns the gate, and a first write, discard or write-zeroes of a chunk
    /// since a snapshot is dispatched only once the chunk's old contents are durable in that
    /// snapshot's store; with no snapshot in it, one volatile read a write.
    /// </summary>
    public Snapshots.CopyOnWrite? CopyOnWrite { get; init; }

    /// <summary>Optional recorder of receipts and acknowledgements (the checker's).</summary>
    public ISequencerObserver? Observer { get; init; }

    /// <summary>
    /// Run every request on the submitting thread through an <see cref="InlineDispatcher"/>: no
    /// workers, deterministic. For tests and the checker; single-threaded use only.
    /// </summary>
    public bool Inline { get; init; }

    /// <summary>
    /// The engine disposes the backend when it is disposed. Default true: whoever builds an engine
    /// hands the backend over with it; tests that inspect a backend afterwards set false.
    /// </summary>
    public bool OwnsBackend { get; init; } = true;

    /// <summary>
    /// How long <see cref="BlockEngine.Dispose"/> waits for outstanding requests before giving up
    /// (see there). Default 30 s: longer than any healthy request, short enough for a service stop.
    /// </summary>
    public TimeSpan ShutdownTimeout { get; init; } = TimeSpan.FromSeconds(30);
}
