namespace LoopOrder.Queues.Targets;

/// <summary>What a target can do. The service reads these to validate options and to set up the device; a target claims only what it has.</summary>
[Flags]
public enum TargetCapabilities
{
    /// <summary>Nothing beyond reads and writes.</summary>
    None = 0,

    /// <summary>
    /// Writes land in a volatile cache (the page cache) that a flush must empty: a flush does
    /// work (fdatasync), and the ordering modes promise something about it. Without it a flush
    /// has nothing to make durable (memory), though its ordering still holds.
    /// </summary>
    NeedsFlush = 1 << 0,

    /// <summary>Can bypass its cache (<c>--direct-io</c>); without it, --direct-io is refused.</summary>
    DirectIo = 1 << 1,

    /// <summary>DISCARD and WRITE_ZEROES mean something (punch a hole, clear bytes): the device advertises discard.</summary>
    Discard = 1 << 2,

    /// <summary>
    /// A buffered write without FUA can land on the ublk queue thread that received it
    /// (<see cref="Backends.IBackend.CreateSubmitterExecutor"/> returns an executor): the
    /// submitter fast path. Speed only; the engine asks the backend either way.
    /// </summary>
    SubmitterLane = 1 << 3,

    /// <summary>
    /// Reads and writes can be moved straight between a request's own pages and the storage by
    /// the transport (ublk zero copy, <see cref="Backends.IRegisteredFile"/>) instead of through
    /// the queue's buffers: the file target.
    /// </summary>
    ZeroCopy = 1 << 4,

    /// <summary>
    /// The contents outlive the daemon: a device is added with USER_RECOVERY, so the kernel holds
    /// its I/O while a killed daemon restarts, and the restarted daemon reattaches it from its
    /// record. Without it the device dies with its daemon and is never reattached.
    /// </summary>
    Persistent = 1 << 5,

    /// <summary>Can be opened read-only (<c>--read-only</c>).</summary>
    ReadOnly = 1 << 6,
}
