using LoopOrder.Queues.Ordering;
using LoopOrder.Ublk.Device;

namespace LoopOrder.Service.Configuration;

/// <summary>What I/O does while no daemon serves a device.</summary>
public enum RecoveryIo
{
    /// <summary>Waits for the next daemon (USER_RECOVERY_REISSUE): nothing fails, it may hang.</summary>
    Wait,

    /// <summary>Fails with EIO at once (USER_RECOVERY_FAIL_IO): for users that prefer an error to a hang.</summary>
    Fail,
}

/// <summary>
/// One device to serve: from <c>loop-order add</c>, <c>serve --file</c>, or a
/// <c>LoopOrder:Devices</c> entry in appsettings.json. Also what the daemon records under
/// <c>/run/loop-order/devices/&lt;id&gt;.json</c> to reattach the device after a crash.
/// </summary>
public sealed class DeviceOptions
{
    /// <summary>Largest queue count accepted (the kernel further caps it at the CPU count).</summary>
    public const int MaxQueues = 64;

    /// <summary>The backing file, an absolute path once normalised. Required; no default.</summary>
    public string File { get; set; } = "";

    /// <summary>
    /// Device size as typed ("4G", "512M", "1048576"; binary units). Default: null, the whole
    /// file (which must then exist). Given and the file missing, the file is created sparse with
    /// this size; given and the file smaller, the device is refused (the file is never resized).
    /// </summary>
    public string? Size { get; set; }

    /// <summary>Hardware queues, one thread each, 1 to <see cref="MaxQueues"/>. Default 1.</summary>
    public int Queues { get; set; } = 1;

    /// <summary>Tags (requests in flight) per queue, 1 to 4096. Default 128.</summary>
    public int Depth { get; set; } = UblkDeviceOptions.DefaultQueueDepth;

    /// <summary>What a flush promises: drain, strict or none. Default drain.</summary>
    public OrderingMode Ordering { get; set; } = OrderingMode.Drain;

    /// <summary>Open the backing file with O_DIRECT (bypass the page cache). Default false.</summary>
    public bool DirectIo { get; set; }

    /// <summary>Logical block size, 512 or 4096. Default 512.</summary>
    public int BlockSize { get; set; } = 512;

    /// <summary>Expose a read-only disk and open the file read-only. Default false.</summary>
    public bool ReadOnly { get; set; }

    /// <summary>
    /// Send every write through the socket workers' channels. Default false: a buffered write
    /// without FUA that can start at once is written by the ublk queue thread that received it
    /// (one thread hop and two wake-ups fewer; see SubmitterLane). Speed only: the ordering
    /// promise is the same either way. <c>--channel-writes</c> on the command line.
    /// </summary>
    public bool ChannelWrites { get; set; }

    /// <summary>
    /// What I/O does while no daemon serves the device (between a crash and the next daemon's
    /// recovery): wait (the default; requests in flight at the crash are sent again) or fail
    /// (every request fails with EIO at once; needs UBLK_F_USER_RECOVERY_FAIL_IO, 6.13 and later).
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
    /// Allows the test options (<see cref="InjectFaults"/>, <see cref="RecordTrace"/>): a device that
    /// misbehaves on purpose or records every byte must be asked for twice. Default false.
    /// <c>--testing</c> on the command line.
    /// </summary>
    public bool Testing { get; set; }

    /// <summary>
    /// Test only, with <see cref="Testing"/>: fail I/O on purpose as a
    /// <see cref="LoopOrder.Queues.Backends.FaultPlan"/> spec says, e.g. "write:eio@3,sync:eio@1".
    /// Default null (no faults). Not re-armed when a restarted daemon recovers the device.
    /// <c>--inject-faults</c> on the command line.
    /// </summary>
    public string? InjectFaults { get; set; }

    /// <summary>
    /// Test only (needs <see cref="Testing"/>): record every request, backend event and written
    /// byte of the device, and write the trace into this directory when the device stops (see
    /// LoopOrder.Queues.Verification.TraceFile), for <c>loop-order crash-images</c>. Default: null, nothing recorded.
    /// </summary>
    public string? RecordTrace { get; set; }

    /// <summary>A copy, for recording and for handing to a device.</summary>
    public DeviceOptions Clone() => (DeviceOptions)MemberwiseClone();
}
