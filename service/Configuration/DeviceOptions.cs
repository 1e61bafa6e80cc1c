using System.Text.Json.Serialization;
using LoopOrder.Queues.Ordering;
using LoopOrder.Queues.Targets;
using LoopOrder.Queues.Targets.File;
using LoopOrder.Ublk.Device;

namespace LoopOrder.Service.Configuration;

/// <summary>What I/O does while no daemon serves a device.</summary>
public enum RecoveryIo
{
    /// <summary>Waits for the next daemon (USER_RECOVERY_REISSUE): nothing fails, it may hang.</summary>
    Wait,

    /// <summary>Fails at once with an I/O error, EREMOTEIO (USER_RECOVERY_FAIL_IO): for users that prefer an error to a hang.</summary>
    Fail,
}

/// <summary>Whether a file device runs without copies where the kernel offers it (UBLK_F_AUTO_BUF_REG).</summary>
public enum ZeroCopyMode
{
    /// <summary>
    /// With <c>--direct-io</c> only. Measured on 7.3 (bench/results/ab-zero-copy): O_DIRECT writes
    /// from the request's pages win everywhere (1.5x the 4 KiB random-write IOPS at about half
    /// the CPU per I/O); buffered ones win on large writes but lose on 4 KiB random writes on
    /// ext4, whose buffered writes io_uring cannot start without blocking and hands to a worker
    /// thread, while with copies the queue thread writes them itself.
    /// </summary>
    Auto,

    /// <summary>Also for a buffered file (best on large sequential writes, or a filesystem whose buffered writes io_uring starts inline).</summary>
    On,

    /// <summary>Never: every request's data is copied into the queue's buffers, as on kernels without the flag.</summary>
    Off,
}

/// <summary>
/// One device to serve, the one options type from every entry point: <c>loop-order add</c> and
/// <c>serve</c> on the command line, a <c>LoopOrder:Devices</c> entry in appsettings.json, an
/// <c>add</c> request on the control socket, and the record the daemon keeps under
/// <c>/run/loop-order/devices/&lt;id&gt;.json</c> to reattach the device after a crash. The
/// target (<see cref="Target"/>) says what the device serves; its own options are in
/// <see cref="TargetOptions"/>, everything else here is common to every target.
/// </summary>
public sealed class DeviceOptions
{
    /// <summary>Largest queue count accepted (the kernel further caps it at the CPU count).</summary>
    public const int MaxQueues = 64;

    private Dictionary<string, string> _targetOptions = new(StringComparer.OrdinalIgnoreCase);

    /// <summary>
    /// What the device serves: a name in <see cref="TargetRegistry"/> (file, memory, nbd, rbd). Default
    /// file, which is also what a record or request written before targets existed means.
    /// </summary>
    public string Target { get; set; } = TargetRegistry.DefaultName;

    /// <summary>
    /// The target's own options by name (case-insensitive), e.g. <c>{"file": "/srv/disk.img"}</c>;
    /// each target lists its options and their defaults. Default empty.
    /// </summary>
    public Dictionary<string, string> TargetOptions
    {
        get => _targetOptions;
        set => _targetOptions = new(value ?? [], StringComparer.OrdinalIgnoreCase);
    }

    /// <summary>
    /// The file target's backing file (<c>TargetOptions["file"]</c>), an absolute path once
    /// normalised; null when not given. A property of its own because appsettings.json entries,
    /// control requests and records written before targets existed carry <c>File</c> at the top,
    /// and it is still written there so that they stay readable both ways.
    /// </summary>
    public string? File
    {
        get => _targetOptions.GetValueOrDefault(FileTarget.FileOption);
        set
        {
            if (value is null)
            {
                _targetOptions.Remove(FileTarget.FileOption);
            }
            else
            {
                _targetOptions[FileTarget.FileOption] = value;
            }
        }
    }

    /// <summary>
    /// Device size as typed ("4G", "512M", "1048576"; binary units). Default: null, which the
    /// file target takes as the whole file (which must then exist); the memory target requires
    /// it. For a file: given and the file missing, the file is created sparse with this size;
    /// given and the file smaller, the device is refused (the file is never resized).
    /// </summary>
    public string? Size { get; set; }

    /// <summary>Hardware queues, one thread each, 1 to <see cref="MaxQueues"/>. Default 1.</summary>
    public int Queues { get; set; } = 1;

    /// <summary>Tags (requests in flight) per queue, 1 to 4096. Default 128.</summary>
    public int Depth { get; set; } = UblkDeviceOptions.DefaultQueueDepth;

    /// <summary>What a flush promises: drain, strict or none. Default drain.</summary>
    public OrderingMode Ordering { get; set; } = OrderingMode.Drain;

    /// <summary>Bypass the target's cache (a file: O_DIRECT); refused by a target without the capability. Default false.</summary>
    public bool DirectIo { get; set; }

    /// <summary>Logical block size, 512 or 4096. Default 512.</summary>
    public int BlockSize { get; set; } = 512;

    /// <summary>Expose a read-only disk and open the storage read-only. Default false.</summary>
    public bool ReadOnly { get; set; }

    /// <summary>
    /// Send every write through the socket workers' channels. Default false: a buffered write
    /// without FUA that can start at once is written by the ublk queue thread that received it
    /// (one thread hop and two wake-ups fewer; see SubmitterLane). Speed only: the ordering
    /// promise is the same either way. <c>--channel-writes</c> on the command line.
    /// </summary>
    public bool ChannelWrites { get; set; }

    /// <summary>
    /// Zero copy where the kernel offers it (UBLK_F_AUTO_BUF_REG, 6.16+; the file target): the
    /// driver hands each request's own pages to its queue thread's ring, and the queue thread
    /// reads and writes the backing file from them, so no byte is copied through the daemon's
    /// memory. Where the kernel lacks the flag (6.12), or a test wraps the storage, the device
    /// copies as before (logged when <see cref="ZeroCopyMode.On"/> asked for it). Default
    /// <see cref="ZeroCopyMode.Auto"/>: with <see cref="DirectIo"/> only (why: the mode's
    /// remarks). <c>--zero-copy auto|on|off</c> on the command line.
    /// </summary>
    public ZeroCopyMode ZeroCopy { get; set; } = ZeroCopyMode.Auto;

    /// <summary>
    /// Batched commands where the kernel offers them (UBLK_F_BATCH_IO, 7.0+): each queue arms
    /// its tags with one command, learns of new requests from a multishot fetch that carries many
    /// tags per completion, and completes each round's requests with one command, instead of one
    /// command per request. Speed only: requests, ordering and data are the same. Where the
    /// kernel lacks the flag (6.12) the device uses one command per request. Default false.
    /// <c>--batch-io</c> on the command line.
    /// </summary>
    public bool BatchIo { get; set; }

    /// <summary>Whether this device asks the kernel for zero copy: <see cref="ZeroCopy"/> resolved against <see cref="DirectIo"/>.</summary>
    [JsonIgnore]
    public bool WantsZeroCopy => ZeroCopy == ZeroCopyMode.On || (ZeroCopy == ZeroCopyMode.Auto && DirectIo);

    /// <summary>
    /// What I/O does while no daemon serves the device (between a crash and the next daemon's
    /// recovery): wait (the default; requests in flight at the crash are sent again) or fail
    /// (every request fails at once with an I/O error, EREMOTEIO; needs UBLK_F_USER_RECOVERY_FAIL_IO, 6.13 and later).
    /// <c>--recovery-io</c> on the command line.
    /// </summary>
    public RecoveryIo RecoveryIo { get; set; } = RecoveryIo.Wait;

    /// <summary>
    /// Let the host kernel scan the device for a partition table (/dev/ublkbNpM). Default false:
    /// where the kernel offers UBLK_F_NO_AUTO_PART_SCAN a guest's partition table inside the file
    /// stays the guest's; older kernels scan regardless. <c>--partitions</c> on the command line.
    /// </summary>
    public bool Partitions { get; set; }

    /// <summary>
    /// Changed-block tracking (file target only): which regions were written, discarded or zeroed
    /// in each generation between snapshots, for <c>loop-order changes</c>. Default false (off:
    /// every first touch of a region per generation costs a metadata sync). The metadata lives in
    /// <see cref="TrackingMetadataPath"/>. <c>--track-changes</c> on the command line,
    /// <c>TrackChanges</c> in appsettings.json.
    /// </summary>
    public bool TrackChanges { get; set; }

    /// <summary>
    /// With <see cref="TrackChanges"/>: bytes one tracked region stands for, a power of two from
    /// 4 KiB to 1 GiB ("64K", "1M"; binary units). Default null: 64 KiB. Coarser regions mean
    /// fewer metadata syncs and bigger incremental backups. <c>--track-granularity</c> on the
    /// command line, <c>TrackGranularity</c> in appsettings.json.
    /// </summary>
    public string? TrackGranularity { get; set; }

    /// <summary>The tracking metadata of a file device: <c>FILE.cbt</c>, null for other targets.</summary>
    /// <remarks>
    /// Next to the backing file and not under /run: the tracked set must survive a reboot exactly
    /// as the file does (a tmpfs would lose it while the file kept the changes), and it moves
    /// with the file when someone moves both.
    /// </remarks>
    [System.Text.Json.Serialization.JsonIgnore]
    public string? TrackingMetadataPath => File is { } file ? file + ".cbt" : null;

    /// <summary>
    /// Allows the test options (<see cref="InjectFaults"/>, <see cref="RecordTrace"/>): a device that
    /// misbehaves on purpose or records every byte must be asked for twice. Default false.
    /// <c>--testing</c> on the command line.
    /// </summary>
    public bool Testing { get; set; }

    /// <summary>
    /// Test only, with <see cref="Testing"/>: fail I/O on purpose as a
    /// <see cref="LoopOrder.Verification.Faults.FaultPlan"/> spec says, e.g. "write:eio@3,sync:eio@1".
    /// Default null (no faults). Not re-armed when a restarted daemon recovers the device.
    /// <c>--inject-faults</c> on the command line.
    /// </summary>
    public string? InjectFaults { get; set; }

    /// <summary>
    /// Test only (needs <see cref="Testing"/>): record every request, backend event and written
    /// byte of the device, and write the trace into this directory when the device stops (see
    /// LoopOrder.Verification.TraceFile), for <c>loop-order crash-images</c>. Default: null, nothing recorded.
    /// </summary>
    public string? RecordTrace { get; set; }

    /// <summary>A copy, for recording and for handing to a device.</summary>
    public DeviceOptions Clone()
    {
        var copy = (DeviceOptions)MemberwiseClone();
        copy._targetOptions = new(_targetOptions, StringComparer.OrdinalIgnoreCase);
        return copy;
    }

    /// <summary>The registered target this device names; call on validated options only.</summary>
    public ITarget ResolveTarget() =>
        TargetRegistry.Find(Target) ?? throw new InvalidOperationException($"'{Target}' is not a target; validate the options first.");

    /// <summary>What the target sees of this device; the size must parse (validate first, except in validation itself, which checks it before).</summary>
    /// <param name="recovering">True when a restarted daemon reattaches the device.</param>
    public TargetRequest ToTargetRequest(bool recovering) => new()
    {
        Values = TargetOptions,
        Size = Size is null ? null : SizeText.Parse(Size),
        BlockSize = BlockSize,
        ReadOnly = ReadOnly,
        DirectIo = DirectIo,
        Ordering = Ordering,
        Recovering = recovering,
    };

    /// <summary>A copy whose target values are normalised (e.g. the file made absolute against this process's working directory), and whose target name is the registered spelling.</summary>
    public DeviceOptions Normalised()
    {
        ITarget target = ResolveTarget();
        DeviceOptions copy = Clone();
        copy.Target = target.Name;
        copy.TargetOptions = new(target.Normalise(TargetOptions));
        return copy;
    }

    /// <summary>What the device serves, as its target says it (a file's path, "memory").</summary>
    public string Describe() => ResolveTarget().Describe(TargetOptions);

    /// <summary>True when this device and <paramref name="other"/> (both normalised) would serve the same storage.</summary>
    /// <param name="other">Another device.</param>
    public bool SameStorage(DeviceOptions other)
    {
        ArgumentNullException.ThrowIfNull(other);
        ITarget target = ResolveTarget();
        return string.Equals(target.Name, other.ResolveTarget().Name, StringComparison.Ordinal)
            && target.SameStorage(TargetOptions, other.TargetOptions);
    }
}
