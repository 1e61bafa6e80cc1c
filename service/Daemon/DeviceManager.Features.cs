using LoopOrder.Service.Configuration;
using LoopOrder.Service.Control;
using LoopOrder.Ublk.Control;
using LoopOrder.Ublk.Protocol;

namespace LoopOrder.Service.Daemon;

/// <summary>The operations on newer ublk features: del without --force, resize, options that need a flag.</summary>
public sealed partial class DeviceManager
{
    /// <summary>
    /// Like <see cref="Delete"/>, but refuses (exit 75, nothing changed) a device that is open or
    /// mounted: TRY_STOP_DEV where the kernel granted SAFE_STOP_DEV (the kernel decides,
    /// atomically), else a check from user space (<see cref="DeviceOpeners"/>) just before STOP_DEV.
    /// </summary>
    /// <param name="id">The device.</param>
    public DeviceReport DeleteUnused(uint id)
    {
        lock (_gate)
        {
            ServedDevice device = Served(id);
            DeviceReport report = Report(device);
            if ((device.Device.Granted & UblkFeatures.SafeStopDev) != 0)
            {
                if (!device.Device.TryStop(_stopTimeout))
                {
                    // The kernel decided; the user-space look only names who holds it.
                    throw InUse(device, DeviceOpeners.Describe(device.Device.BlockDevicePath) ?? "open (TRY_STOP_DEV refused: the kernel counts openers)");
                }
            }
            else if (DeviceOpeners.Describe(device.Device.BlockDevicePath) is { } why)
            {
                throw InUse(device, why);
            }

            StopOne(device);
            return report;
        }
    }

    /// <summary>
    /// Every device, unless one is open or mounted: then none is deleted (exit 75, naming them).
    /// The check is from user space for all of them first; a device opened after it is still
    /// refused by TRY_STOP_DEV where the kernel has it.
    /// </summary>
    public List<DeviceReport> DeleteAllUnused()
    {
        lock (_gate)
        {
            var busy = _devices.Values.OrderBy(d => d.Id)
                .Select(d => (Device: d, Why: DeviceOpeners.Describe(d.Device.BlockDevicePath)))
                .Where(x => x.Why is not null)
                .Select(x => $"{x.Device.Device.BlockDevicePath} is {x.Why}")
                .ToList();
            if (busy.Count > 0)
            {
                throw new ServiceException(ExitCodes.InUse, $"not deleting anything: {string.Join("; ", busy)}; unmount or close them, or use --force.");
            }

            var reports = new List<DeviceReport>();
            foreach (uint id in _devices.Keys.Order().ToList())
            {
                reports.Add(DeleteUnused(id));
            }

            return reports;
        }
    }

    /// <summary>
    /// Resizes device <paramref name="id"/> and its backing file to <paramref name="sizeText"/>
    /// (UPDATE_SIZE). Growing extends the file first; shrinking (only with
    /// <paramref name="allowShrink"/>) lowers the device first, then cuts the file. The record
    /// keeps the new size for a restarted daemon.
    /// </summary>
    /// <param name="id">The device.</param>
    /// <param name="sizeText">The new size as typed.</param>
    /// <param name="allowShrink">Allow a smaller size.</param>
    public DeviceReport Resize(uint id, string sizeText, bool allowShrink)
    {
        ArgumentNullException.ThrowIfNull(sizeText);
        long size;
        try
        {
            size = SizeText.Parse(sizeText);
        }
        catch (FormatException e)
        {
            throw new ServiceException(ExitCodes.Usage, e.Message, e);
        }

        lock (_gate)
        {
            ThrowIfStopping();
            ServedDevice device = Served(id);
            device.Resize(size, allowShrink);
            _records.Save(RecordOf(device));
            return Report(device);
        }
    }

    /// <summary>
    /// <paramref name="device"/>'s storage may have been resized from outside (on a thread-pool
    /// thread, or in <see cref="Start"/> under the lock already): it follows if it still is served.
    /// </summary>
    private void FollowStorage(ServedDevice device)
    {
        try
        {
            lock (_gate)
            {
                if (_stopping || !_devices.TryGetValue(device.Id, out ServedDevice? served) || served != device)
                {
                    return;
                }

                if (device.FollowStorage())
                {
                    _records.Save(RecordOf(device));
                }
            }
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            // On a thread-pool thread nothing may escape; the device goes on at its old size.
            Log.StorageFollowFailed(_logger, device.Id, device.Describe(), e.Message);
        }
    }

    /// <summary>Options that need a flag the kernel lacks are refused before anything is touched.</summary>
    private void ThrowIfFeaturesMissing(DeviceOptions options)
    {
        if (options.RecoveryIo == RecoveryIo.Fail && (_factory.OfferedFeatures & UblkFeatures.UserRecoveryFailIo) == 0)
        {
            throw new UblkFeatureUnavailableException(UblkFeatures.UserRecoveryFailIo, "--recovery-io fail (failing I/O at once while no daemon serves the device)");
        }
    }

    private ServedDevice Served(uint id) =>
        _devices.TryGetValue(id, out ServedDevice? device)
            ? device
            : throw new ServiceException(ExitCodes.Usage, $"no device {id} is served by this daemon; see loop-order list.");

    private static ServiceException InUse(ServedDevice device, string why) =>
        new(ExitCodes.InUse, $"device {device.Id} is open or mounted: {device.Device.BlockDevicePath} is {why}; unmount or close it first, or use --force (a mounted filesystem then loses its disk).");
}
