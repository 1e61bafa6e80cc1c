using System.Globalization;
using LoopOrder.Interop;
using LoopOrder.Queues.Requests;
using LoopOrder.Service.Control;
using LoopOrder.Ublk.Control;
using LoopOrder.Ublk.Device;
using LoopOrder.Ublk.Protocol;
using LoopOrder.Ublk.Queue;
using LoopOrder.Ublk.Structs;
using Microsoft.Extensions.Logging;

namespace LoopOrder.Service.Daemon;

/// <summary>The real thing: ublk devices through /dev/ublk-control.</summary>
/// <param name="controlPath">The control device (tests point it elsewhere).</param>
public sealed class UblkDeviceFactory(string controlPath = UblkControl.DefaultPath) : IDeviceFactory
{
    /// <inheritdoc />
    public bool IsAvailable => UblkControl.IsAvailable(controlPath);

    /// <inheritdoc />
    public UblkFeatures OfferedFeatures
    {
        get
        {
            using var control = UblkControl.Open(controlPath);
            try
            {
                return control.GetFeatures();
            }
            catch (ErrnoException e) when (e.Errno is Errno.EOPNOTSUPP or Errno.EINVAL)
            {
                // Before 6.4 there is no GET_FEATURES: nothing optional is offered.
                return UblkFeatures.None;
            }
        }
    }

    /// <inheritdoc />
    public IDeviceHandle Create(UblkDeviceOptions options, Action<BlockRequest> submit, ILogger logger) =>
        new Handle(UblkDevice.Create(options, submit, logger));

    /// <inheritdoc />
    public IDeviceHandle Recover(uint id, UblkDeviceOptions options, Action<BlockRequest> submit, ILogger logger) =>
        new Handle(UblkDevice.Recover(id, options, submit, logger));

    /// <inheritdoc />
    public KernelDevice? Query(uint id)
    {
        if (!IsAvailable)
        {
            throw new UblkUnavailableException(controlPath);
        }

        using var control = UblkControl.Open(controlPath);
        ublksrv_ctrl_dev_info info;
        try
        {
            info = control.GetDeviceInfo(id);
        }
        catch (ErrnoException e) when (e.Errno is Errno.ENOENT or Errno.ENODEV)
        {
            return null;
        }

        long size = 0;
        try
        {
            ublk_params p = control.GetParams(id);
            size = (long)p.basic.dev_sectors << BlockRequest.SectorShift;
        }
        catch (ErrnoException)
        {
            // Parameters are optional for a listing: a device being set up may have none yet.
        }

        DeviceState state = (UblkDeviceState)info.state switch
        {
            UblkDeviceState.Dead => DeviceState.Dead,
            UblkDeviceState.Live => DeviceState.Live,
            UblkDeviceState.Quiesced => DeviceState.Quiesced,
            (UblkDeviceState)3 => DeviceState.FailIo, // UBLK_S_DEV_FAIL_IO (6.13+)
            _ => DeviceState.Unknown,
        };
        return new KernelDevice(info.dev_id, state, info.ublksrv_pid, info.nr_hw_queues, info.queue_depth, size, ((UblkFeatures)info.flags).ToString());
    }

    /// <inheritdoc />
    public IReadOnlyList<KernelDevice> List()
    {
        var result = new List<KernelDevice>();
        foreach (uint id in CharDeviceIds())
        {
            if (Query(id) is { } d)
            {
                result.Add(d);
            }
        }

        return result;
    }

    /// <inheritdoc />
    public void Delete(uint id)
    {
        using var control = UblkControl.Open(controlPath);
        try
        {
            control.StopDevice(id);
        }
        catch (ErrnoException)
        {
            // A quiesced or never-started device may refuse STOP_DEV; DEL_DEV below still works.
        }

        control.DeleteDevice(id);
    }

    /// <summary>N of every /dev/ublkcN, ascending.</summary>
    public static IEnumerable<uint> CharDeviceIds() =>
        Directory.Exists("/dev")
            ? Directory.EnumerateFiles("/dev", "ublkc*")
                .Select(p => uint.TryParse(Path.GetFileName(p).AsSpan(5), NumberStyles.None, CultureInfo.InvariantCulture, out uint n) ? (uint?)n : null)
                .Where(n => n is not null)
                .Select(n => n!.Value)
                .Order()
            : [];

    private sealed class Handle(UblkDevice device) : IDeviceHandle
    {
        public uint Id => device.Id;

        public string BlockDevicePath => device.BlockDevicePath;

        public int Queues => device.Info.nr_hw_queues;

        public int Depth => device.Info.queue_depth;

        public string Features => device.Features.ToString();

        public WaitHandle EndedHandle => device.EndedHandle;

        public IReadOnlyList<UblkQueueStatistics> QueueStatistics => device.QueueStatistics;

        public UblkFeatures Granted => device.Features;

        public void Stop(TimeSpan timeout) => device.Stop(timeout);

        public bool TryStop(TimeSpan timeout) => device.TryStop(timeout);

        public void Resize(long sizeBytes) => device.Resize(sizeBytes);

        public void Dispose() => device.Dispose();
    }
}
