using LoopOrder.Queues.Requests;
using LoopOrder.Ublk.Control;
using LoopOrder.Service.Control;
using LoopOrder.Ublk.Device;
using LoopOrder.Ublk.Protocol;
using LoopOrder.Ublk.Queue;
using Microsoft.Extensions.Logging;

namespace LoopOrder.Service.Daemon;

/// <summary>A running kernel device as the daemon sees it (a ublk device, or a fake in host tests).</summary>
public interface IDeviceHandle : IDisposable
{
    /// <summary>The device number N.</summary>
    uint Id { get; }

    /// <summary>/dev/ublkbN.</summary>
    string BlockDevicePath { get; }

    /// <summary>Queues the kernel granted.</summary>
    int Queues { get; }

    /// <summary>Tags per queue.</summary>
    int Depth { get; }

    /// <summary>The negotiated UBLK_F_* flags, as text.</summary>
    string Features { get; }

    /// <summary>Set when the device ended (stopped, deleted from outside, or a queue failed).</summary>
    WaitHandle EndedHandle { get; }

    /// <summary>Per-queue counters now.</summary>
    IReadOnlyList<UblkQueueStatistics> QueueStatistics { get; }

    /// <summary>STOP_DEV and wait for the queues (the kernel flushes the disk meanwhile).</summary>
    /// <param name="timeout">Per queue.</param>
    void Stop(TimeSpan timeout);

    /// <summary>The negotiated flags, typed (what <see cref="Features"/> spells out).</summary>
    UblkFeatures Granted => UblkFeatures.None;

    /// <summary>
    /// TRY_STOP_DEV (needs <see cref="UblkFeatures.SafeStopDev"/> in <see cref="Granted"/>):
    /// stops like <see cref="Stop"/> unless /dev/ublkbN is open; false, and nothing changed, if it is.
    /// </summary>
    /// <param name="timeout">Per queue.</param>
    bool TryStop(TimeSpan timeout) => throw new UblkFeatureUnavailableException(UblkFeatures.SafeStopDev, "stopping only an unused device (TRY_STOP_DEV)");

    /// <summary>UPDATE_SIZE (needs <see cref="UblkFeatures.UpdateSize"/> in <see cref="Granted"/>): the device's new capacity.</summary>
    /// <param name="sizeBytes">A multiple of the logical block size.</param>
    void Resize(long sizeBytes) => throw new UblkFeatureUnavailableException(UblkFeatures.UpdateSize, "resizing a live device (UPDATE_SIZE)");
}

/// <summary>What the kernel reports about one device (GET_DEV_INFO, GET_PARAMS).</summary>
/// <param name="Id">N of /dev/ublkcN.</param>
/// <param name="State">live, quiesced, dead or fail_io.</param>
/// <param name="ServerPid">ublksrv_pid: the process serving it (or that served it last).</param>
/// <param name="Queues">nr_hw_queues.</param>
/// <param name="Depth">queue_depth.</param>
/// <param name="SizeBytes">Capacity, from the parameters (0 when unknown).</param>
/// <param name="Flags">The negotiated flags, as text.</param>
public sealed record KernelDevice(uint Id, DeviceState State, int ServerPid, int Queues, int Depth, long SizeBytes, string Flags);

/// <summary>Creates and reattaches kernel devices; the seam between the daemon and ublk.</summary>
public interface IDeviceFactory
{
    /// <summary>True when the kernel offers ublk (/dev/ublk-control exists).</summary>
    bool IsAvailable { get; }

    /// <summary>GET_FEATURES: the UBLK_F_* flags the kernel offers (None where it predates the command).</summary>
    UblkFeatures OfferedFeatures => UblkFeatures.None;

    /// <summary>ADD_DEV … START_DEV; nothing is left behind on failure.</summary>
    /// <param name="options">The device.</param>
    /// <param name="submit">Receives requests on the queue threads.</param>
    /// <param name="logger">For the transport's logs.</param>
    IDeviceHandle Create(UblkDeviceOptions options, Action<BlockRequest> submit, ILogger logger);

    /// <summary>START_USER_RECOVERY … END_USER_RECOVERY on a device whose server died.</summary>
    /// <param name="id">The device.</param>
    /// <param name="options">Pinning and paths only; the geometry is the device's.</param>
    /// <param name="submit">Receives requests on the queue threads.</param>
    /// <param name="logger">For the transport's logs.</param>
    IDeviceHandle Recover(uint id, UblkDeviceOptions options, Action<BlockRequest> submit, ILogger logger);

    /// <summary>What the kernel reports about <paramref name="id"/>, or null when it has no such device.</summary>
    /// <param name="id">The device.</param>
    KernelDevice? Query(uint id);

    /// <summary>Every device the kernel has (/dev/ublkc*).</summary>
    IReadOnlyList<KernelDevice> List();

    /// <summary>STOP_DEV and DEL_DEV on a device nobody serves (a record whose storage is gone, or died with its daemon).</summary>
    /// <param name="id">The device.</param>
    void Delete(uint id);
}
