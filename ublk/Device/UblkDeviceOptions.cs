using LoopOrder.Ublk.Control;

namespace LoopOrder.Ublk.Device;

/// <summary>Maps a queue's CPUs to the engine's socket (NUMA node index) whose workers serve that queue.</summary>
/// <param name="cpus">The CPUs GET_QUEUE_AFFINITY reported for the queue.</param>
/// <returns>A node index of the engine's topology.</returns>
public delegate int NodeResolver(ReadOnlySpan<int> cpus);

/// <summary>What device to create.</summary>
public sealed class UblkDeviceOptions
{
    /// <summary>The buffer size asked for: 512 KiB per request, the largest the kernel splits bios into by default.</summary>
    public const int DefaultMaxIoBytes = 512 * 1024;

    /// <summary>Tags per queue unless told otherwise.</summary>
    public const int DefaultQueueDepth = 128;

    /// <summary>
    /// Largest DISCARD / WRITE_ZEROES in sectors: 1 GiB. They carry no data, so the buffer size
    /// does not bound them; this keeps each request's byte count well inside an int, which is how
    /// the engine carries it.
    /// </summary>
    public const uint MaxDiscardSectors = (1u << 30) >> 9;

    /// <summary>Discard granularity in bytes: a 4 KiB page, what hole punching in the backing file works in.</summary>
    public const uint DiscardGranularity = 4096;

    /// <summary>Capacity in bytes; a multiple of <see cref="LogicalBlockSize"/>.</summary>
    public required long SizeBytes { get; init; }

    /// <summary>Hardware queues (the kernel caps it at the CPU count).</summary>
    public int Queues { get; init; } = 1;

    /// <summary>Tags per queue, 1..4096.</summary>
    public int QueueDepth { get; init; } = DefaultQueueDepth;

    /// <summary>Largest request in bytes to ask for; the kernel's answer (a page multiple) is what is used.</summary>
    public int MaxIoBytes { get; init; } = DefaultMaxIoBytes;

    /// <summary>512 or 4096 (anything from 512 to the page size, a power of two).</summary>
    public int LogicalBlockSize { get; init; } = 512;

    /// <summary>At least <see cref="LogicalBlockSize"/>; 4096 by default.</summary>
    public int PhysicalBlockSize { get; init; } = 4096;

    /// <summary>Expose a read-only disk.</summary>
    public bool ReadOnly { get; init; }

    /// <summary>Advertise DISCARD and WRITE_ZEROES.</summary>
    public bool Discard { get; init; } = true;

    /// <summary>
    /// Ask for UBLK_F_USER_RECOVERY and UBLK_F_USER_RECOVERY_REISSUE where GET_FEATURES offers
    /// them: the device then outlives a crashed server and a new one can take it over.
    /// </summary>
    public bool UserRecovery { get; init; }

    /// <summary>
    /// With <see cref="UserRecovery"/>: what I/O does while no server serves the device. False
    /// (the default): it waits for the next server, and requests the dead one had in flight are
    /// sent again (USER_RECOVERY_REISSUE). True: it fails at once with an I/O error (EREMOTEIO for new requests), in flight and new
    /// alike, until a server recovers the device (UBLK_F_USER_RECOVERY_FAIL_IO, 6.13 and later;
    /// <see cref="UblkDevice.Create"/> throws <see cref="UblkFeatureUnavailableException"/> on a
    /// kernel without it).
    /// </summary>
    public bool RecoveryFailIo { get; init; }

    /// <summary>
    /// Let the kernel scan the disk for a partition table when it starts. False (the default)
    /// asks for UBLK_F_NO_AUTO_PART_SCAN where the kernel offers it, so a guest's partition table
    /// inside the file does not become host partitions; kernels without it always scan.
    /// </summary>
    public bool PartitionScan { get; init; }

    /// <summary>
    /// Ask for UBLK_F_QUIESCE (with <see cref="UserRecovery"/>, where offered) so that
    /// <see cref="UblkControl.QuiesceDevice"/> works on the device. Default: off (nothing uses it yet).
    /// </summary>
    public bool Quiesce { get; init; }

    /// <summary>
    /// The I/O scheduler /dev/ublkbN gets once it exists (its sysfs queue/scheduler), or null to
    /// keep the kernel's choice. <see cref="BlockQueueSettings.NoScheduler"/> by default, as the
    /// loop driver has (BLK_MQ_F_NO_SCHED_BY_DEFAULT): the backing file's own disk schedules, and
    /// in front of a user-space server a scheduler only adds a hop. The kernel gives a device
    /// with one hardware queue mq-deadline, and a request that goes through a scheduler without a
    /// plug is dispatched by a kblockd worker instead of the submitting thread
    /// (blk_mq_submit_bio: insert, then blk_mq_run_hw_queue async), a wake-up and a preemption of
    /// the submitter per request where that happens (7.3; bench/results/ab-no-scheduler). An
    /// administrator may still set one afterwards, as for any disk.
    /// </summary>
    public string? IoScheduler { get; init; } = BlockQueueSettings.NoScheduler;

    /// <summary>
    /// Ask for zero copy (UBLK_F_AUTO_BUF_REG, 6.16+) where the kernel offers it: the driver no
    /// longer copies each request's data into the queue's buffers; it registers the request's
    /// own pages in the queue thread's ring, and the queue thread reads and writes the backing
    /// file from them there (a <see cref="Queues.Requests.RequestBufferKind.Registered"/> buffer,
    /// moved through <see cref="Queues.Requests.IRegisteredData"/>). Only for storage
    /// the engine reaches as a file (<see cref="Queues.Backends.IRegisteredFile"/>). Default
    /// false: the caller decides; the service turns it on for the file target (--zero-copy).
    /// Where the kernel lacks the flag, the device copies as before.
    /// </summary>
    public bool ZeroCopy { get; init; }

    /// <summary>
    /// Ask for batched commands (UBLK_F_BATCH_IO, 7.0+) where the kernel offers them: each queue
    /// arms its tags with one PREP_IO_CMDS, learns of new requests from multishot FETCH_IO_CMDS
    /// and completes each round's finished requests with one COMMIT_IO_CMDS, instead of one
    /// command per request. Default false: the caller decides (the service's --batch-io). Where
    /// the kernel lacks the flag, the device uses one command per request as before.
    /// </summary>
    public bool BatchIo { get; init; }

    /// <summary>The device number to ask for; <see cref="UblkControl.AnyDeviceId"/> lets the kernel choose.</summary>
    public uint DeviceId { get; init; } = UblkControl.AnyDeviceId;

    /// <summary>Pin each queue thread to the CPUs its queue serves.</summary>
    public bool PinQueues { get; init; } = true;

    /// <summary>Maps a queue's CPUs to the engine socket serving it; null sends everything to node 0.</summary>
    public NodeResolver? NodeForCpus { get; init; }

    /// <summary>
    /// Called on each queue thread once it is pinned, before it serves: the engine gives the thread
    /// its own lane for buffered writes there (BlockEngine.AttachSubmitter). What it returns is
    /// disposed on the same thread as the thread exits. Null (the default) calls nothing.
    /// </summary>
    public Func<IDisposable?>? QueueThreadInit { get; init; }

    /// <summary>The control device.</summary>
    public string ControlPath { get; init; } = UblkControl.DefaultPath;

    /// <summary>How long to wait for /dev/ublkcN to appear after ADD_DEV (devtmpfs creates it asynchronously).</summary>
    public TimeSpan CharDeviceTimeout { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>Checks the numbers; throws <see cref="ArgumentException"/> naming the bad one.</summary>
    public void Validate()
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(SizeBytes, nameof(SizeBytes));
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(Queues, nameof(Queues));
        ArgumentOutOfRangeException.ThrowIfGreaterThan(Queues, Protocol.UblkLimits.MaxQueues, nameof(Queues));
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(QueueDepth, nameof(QueueDepth));
        ArgumentOutOfRangeException.ThrowIfGreaterThan(QueueDepth, Protocol.UblkLimits.MaxQueueDepth, nameof(QueueDepth));
        ArgumentOutOfRangeException.ThrowIfLessThan(MaxIoBytes, Environment.SystemPageSize, nameof(MaxIoBytes));
        if (!IsPowerOfTwoBetween(LogicalBlockSize, 512, Environment.SystemPageSize))
        {
            throw new ArgumentOutOfRangeException(nameof(LogicalBlockSize), LogicalBlockSize, "The logical block size must be a power of two from 512 to the page size.");
        }

        if (!IsPowerOfTwoBetween(PhysicalBlockSize, LogicalBlockSize, 1 << 16))
        {
            throw new ArgumentOutOfRangeException(nameof(PhysicalBlockSize), PhysicalBlockSize, "The physical block size must be a power of two, at least the logical block size.");
        }

        if (SizeBytes % LogicalBlockSize != 0)
        {
            throw new ArgumentException($"The size ({SizeBytes} bytes) is not a multiple of the logical block size ({LogicalBlockSize}).", nameof(SizeBytes));
        }
    }

    private static bool IsPowerOfTwoBetween(int value, int min, int max) =>
        value >= min && value <= max && (value & (value - 1)) == 0;
}
