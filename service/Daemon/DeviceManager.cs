using LoopOrder.Interop;
using LoopOrder.Queues.Backends;
using LoopOrder.Queues.Ordering;
using LoopOrder.Queues.Targets;
using LoopOrder.Service.Configuration;
using LoopOrder.Service.Control;
using LoopOrder.Ublk.Control;
using LoopOrder.Ublk.Queue;
using Microsoft.Extensions.Logging;

namespace LoopOrder.Service.Daemon;

/// <summary>
/// The daemon's devices: add, delete, list, statistics, recovery, and stopping them all. Control
/// operations are serialised by one lock (they are rare and take milliseconds to seconds); the
/// I/O path never touches it.
/// </summary>
public sealed partial class DeviceManager
{
    private readonly Lock _gate = new();
    private readonly Dictionary<uint, ServedDevice> _devices = [];
    private readonly IDeviceFactory _factory;
    private readonly DeviceRecords _records;
    private readonly TimeSpan _stopTimeout;
    private readonly ILogger _logger;
    private bool _stopping;

    /// <summary>A manager over <paramref name="factory"/>'s devices, recording them in <paramref name="records"/>.</summary>
    /// <param name="factory">Makes kernel devices.</param>
    /// <param name="records">Where device records go.</param>
    /// <param name="stopTimeout">Per queue, for a device to stop.</param>
    /// <param name="logger">The daemon's log.</param>
    public DeviceManager(IDeviceFactory factory, DeviceRecords records, TimeSpan stopTimeout, ILogger logger)
    {
        _factory = factory;
        _records = records;
        _stopTimeout = stopTimeout;
        _logger = logger;
    }

    /// <summary>Devices served now.</summary>
    public int Count
    {
        get
        {
            lock (_gate)
            {
                return _devices.Count;
            }
        }
    }

    /// <summary>
    /// Validates, checks the storage is not served already, opens it, creates the device and
    /// records it. Throws a <see cref="ServiceException"/> with nothing created or changed on failure.
    /// </summary>
    /// <param name="requested">The device; a relative file is taken from the daemon's working directory.</param>
    public DeviceReport Add(DeviceOptions requested)
    {
        ArgumentNullException.ThrowIfNull(requested);
        if (DeviceOptionsValidator.Problem(requested) is { } problem)
        {
            throw new ServiceException(ExitCodes.Usage, problem);
        }

        DeviceOptions options = requested.Normalised();
        lock (_gate)
        {
            ThrowIfStopping();
            if (_devices.Values.FirstOrDefault(d => d.Options.SameStorage(options)) is { } other)
            {
                throw new ServiceException(
                    ExitCodes.NoInput,
                    $"{options.Describe()} is already served by {other.Device.BlockDevicePath}; each {options.Target} storage may back one device (delete that one first: loop-order del {other.Id}).");
            }

            if (!_factory.IsAvailable)
            {
                // Before touching the storage: a machine without ublk gets nothing created.
                throw new UblkUnavailableException(UblkControl.DefaultPath);
            }

            ThrowIfFeaturesMissing(options);
            ServedDevice device = Start(options, recoverId: null);
            return Report(device);
        }
    }

    /// <summary>Stops, flushes and deletes device <paramref name="id"/>, and forgets its record.</summary>
    /// <param name="id">The device.</param>
    public DeviceReport Delete(uint id)
    {
        lock (_gate)
        {
            if (!_devices.TryGetValue(id, out ServedDevice? device))
            {
                throw new ServiceException(ExitCodes.Usage, $"no device {id} is served by this daemon; see loop-order list.");
            }

            DeviceReport report = Report(device);
            StopOne(device);
            return report;
        }
    }

    /// <summary>Deletes every device; returns what was deleted.</summary>
    public List<DeviceReport> DeleteAll()
    {
        lock (_gate)
        {
            var reports = _devices.Values.Select(Report).ToList();
            foreach (ServedDevice device in _devices.Values.ToList())
            {
                StopOne(device);
            }

            return reports;
        }
    }

    /// <summary>Every device this daemon serves, then any other the kernel has (another server's, or an orphan).</summary>
    public List<DeviceReport> List()
    {
        lock (_gate)
        {
            var reports = _devices.Values.OrderBy(d => d.Id).Select(Report).ToList();
            if (_factory.IsAvailable)
            {
                foreach (KernelDevice k in _factory.List())
                {
                    if (!_devices.ContainsKey(k.Id))
                    {
                        reports.Add(ReportOf(k, _records.Find(k.Id)?.Options));
                    }
                }
            }

            return reports;
        }
    }

    /// <summary>Device <paramref name="id"/>'s counters.</summary>
    /// <param name="id">The device.</param>
    public DeviceStatistics Statistics(uint id)
    {
        lock (_gate)
        {
            if (!_devices.TryGetValue(id, out ServedDevice? device))
            {
                throw new ServiceException(ExitCodes.Usage, $"no device {id} is served by this daemon; see loop-order list.");
            }

            return StatisticsOf(device);
        }
    }

    /// <summary>
    /// Reattaches device <paramref name="id"/> (its server died) to the storage its record names.
    /// </summary>
    /// <param name="id">The device.</param>
    public DeviceReport Recover(uint id)
    {
        lock (_gate)
        {
            ThrowIfStopping();
            if (_devices.TryGetValue(id, out ServedDevice? served))
            {
                throw new ServiceException(ExitCodes.Usage, $"device {id} is already served by this daemon ({served.Device.BlockDevicePath}); nothing to recover.");
            }

            DeviceRecord record = _records.Find(id)
                ?? throw new ServiceException(
                    ExitCodes.NoInput,
                    $"no record of device {id} in {_records.Directory}: only devices added by loop-order can be recovered (the record names the target and its storage).");
            return Report(RecoverRecord(record));
        }
    }

    /// <summary>
    /// At start: reattaches every recorded device whose server is gone, drops records of devices
    /// the kernel no longer has. Failures are logged and left for <c>recover ID</c>.
    /// </summary>
    /// <returns>How many devices were reattached.</returns>
    public int RecoverRecorded()
    {
        int recovered = 0;
        lock (_gate)
        {
            foreach ((string path, DeviceRecord? record, string? error) in _records.Load())
            {
                if (record is null)
                {
                    Log.RecordUnreadable(_logger, path, error ?? "?");
                    continue;
                }

                if (_devices.ContainsKey(record.Id))
                {
                    continue;
                }

                try
                {
                    KernelDevice? k = _factory.IsAvailable ? _factory.Query(record.Id) : null;
                    if (k is null)
                    {
                        Log.RecordStale(_logger, record.Id);
                        _records.Remove(record.Id);
                        continue;
                    }

                    if (k.State == DeviceState.Live && k.ServerPid > 0 && k.ServerPid != Environment.ProcessId && ProcessAlive(k.ServerPid))
                    {
                        // Another daemon (e.g. a foreground serve beside this one) serves it.
                        continue;
                    }

                    if (DeviceOptionsValidator.Problem(record.Options) is null && DeleteIfNotPersistent(record) is not null)
                    {
                        continue;
                    }

                    RecoverRecord(record);
                    recovered++;
                }
                catch (Exception e)
                {
                    ServiceException s = ServiceErrors.From(e);
                    Log.RecoverFailed(_logger, record.Id, s.Message);
                }
            }
        }

        return recovered;
    }

    /// <summary>
    /// Shutdown: refuses further adds, then stops, flushes and deletes every device. Returns the
    /// worst final-flush result (0, or -errno).
    /// </summary>
    public int StopAll()
    {
        lock (_gate)
        {
            _stopping = true;
            int worst = 0;
            foreach (ServedDevice device in _devices.Values.OrderBy(d => d.Id).ToList())
            {
                int r = StopOne(device);
                worst = Math.Min(worst, r);
            }

            return worst;
        }
    }

    private static bool ProcessAlive(int pid) => LoopOrder.Interop.Processes.IsAlive(pid);

    private ServedDevice RecoverRecord(DeviceRecord record)
    {
        if (DeviceOptionsValidator.Problem(record.Options) is { } problem)
        {
            throw new ServiceException(ExitCodes.Config, $"the record of device {record.Id} is invalid ({problem}); delete the device (loop-order del) and add it again.");
        }

        if (!_factory.IsAvailable)
        {
            throw new UblkUnavailableException(UblkControl.DefaultPath);
        }

        if (_factory.Query(record.Id) is null)
        {
            _records.Remove(record.Id);
            throw new ServiceException(ExitCodes.NoInput, $"the kernel has no device {record.Id} any more; its record is removed.");
        }

        if (DeleteIfNotPersistent(record) is { } target)
        {
            throw new ServiceException(
                ExitCodes.NoInput,
                $"device {record.Id} served {target}, whose contents died with the daemon that served it: it cannot be recovered, and it is deleted. Add a new one (loop-order add --target {target} ...).");
        }

        ServedDevice device = Start(record.Options, record.Id, record.Snapshots);
        Log.Recovered(_logger, device.Id, device.Device.BlockDevicePath, device.Describe());
        return device;
    }

    /// <summary>
    /// A device whose target does not outlive its daemon (memory) has nothing to reattach to:
    /// what the kernel still has of it (a dead device, added without USER_RECOVERY) is deleted
    /// with its record, so it does not linger as an orphan. Returns the target's name when so.
    /// </summary>
    private string? DeleteIfNotPersistent(DeviceRecord record)
    {
        ITarget target = record.Options.ResolveTarget();
        if (target.Capabilities.HasFlag(TargetCapabilities.Persistent))
        {
            return null;
        }

        _factory.Delete(record.Id);
        _records.Remove(record.Id);
        Log.NotPersistentDeleted(_logger, record.Id, target.Name);
        return target.Name;
    }

    private ServedDevice Start(DeviceOptions options, uint? recoverId, List<SnapshotRecord>? snapshots = null)
    {
        ServedDevice device = ServedDevice.Start(options, _factory, recoverId, _logger);

        // A recovered device keeps its snapshots: their reflink files outlived the daemon too.
        device.Snapshots.AddRange(snapshots ?? []);

        // Copy-on-write stores outlive a reboot (their index is next to the backing file); the records in /run do not.
        device.Snapshots.AddRange(device.UnrecordedStores(device.Snapshots));
        try
        {
            _records.Save(RecordOf(device));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // Without a record the device could not be recovered after a crash: refuse it.
            device.Stop(_stopTimeout);
            throw new ServiceException(ExitCodes.OsError, $"cannot record device {device.Id} in {_records.Directory}: {e.Message}", e);
        }

        _devices.Add(device.Id, device);
        if (device.Backend is IExternallyResizable watched)
        {
            // Someone may have resized it while no daemon watched (a restart): look once now too.
            watched.StorageResized += () => FollowStorage(device);
            FollowStorage(device);
        }

        if (recoverId is null)
        {
            Log.Added(_logger, device.Id, device.Device.BlockDevicePath, device.Describe(), device.SizeBytes, device.Device.Queues, device.Device.Depth, device.Options.Ordering, device.Device.Features);
        }

        return device;
    }

    /// <summary>What a restarted daemon needs of <paramref name="device"/>: its options and its snapshots.</summary>
    private static DeviceRecord RecordOf(ServedDevice device) => new()
    {
        Id = device.Id,
        Options = device.Options,
        Snapshots = device.Snapshots.Count == 0 ? null : [.. device.Snapshots],
    };

    private int StopOne(ServedDevice device)
    {
        Log.Stopping(_logger, device.Id, device.Device.BlockDevicePath);
        int flush = device.Stop(_stopTimeout);
        FlushStatistics f = device.Engine.Sequencer.FlushStatistics;
        Log.FlushSummary(_logger, device.Id, f.Flushes, f.Syncs, f.PeakSyncsInFlight, f.WaitedForWrites.TotalMilliseconds, f.WaitedBehindSyncs.TotalMilliseconds, f.InSync.TotalMilliseconds, f.SyncTime.TotalMilliseconds);
        _devices.Remove(device.Id);
        _records.Remove(device.Id);
        if (flush < 0)
        {
            Log.FinalFlushFailed(_logger, device.Id, device.Describe(), ErrnoExtensions.ErrnoOf(flush).Describe());
        }
        else
        {
            Log.Deleted(_logger, device.Id, device.Device.BlockDevicePath, device.Describe());
        }

        return flush;
    }

    private void ThrowIfStopping()
    {
        if (_stopping)
        {
            throw new ServiceException(ExitCodes.Unavailable, "the daemon is stopping; start it again to add devices.");
        }
    }

    private static DeviceReport Report(ServedDevice d) => new()
    {
        Id = d.Id,
        BlockDevice = d.Device.BlockDevicePath,
        Target = d.Target.Name,
        Serves = d.Describe(),
        File = d.Options.File,
        SizeBytes = d.SizeBytes,
        Queues = d.Device.Queues,
        Depth = d.Device.Depth,
        Ordering = d.Options.Ordering.ToString().ToLowerInvariant(),
        DirectIo = d.Options.DirectIo,
        BlockSize = d.Options.BlockSize,
        ReadOnly = d.Options.ReadOnly,
        State = d.Device.EndedHandle.WaitOne(0) ? DeviceState.Ended : DeviceState.Live,
        Pid = Environment.ProcessId,
        Flags = d.Device.Features,
    };

    /// <summary>A kernel device this daemon does not serve, with its record's options where one exists.</summary>
    /// <param name="k">What the kernel reports.</param>
    /// <param name="recorded">The record's options, if any.</param>
    public static DeviceReport ReportOf(KernelDevice k, DeviceOptions? recorded)
    {
        ArgumentNullException.ThrowIfNull(k);
        return new()
        {
            Id = k.Id,
            BlockDevice = "/dev/ublkb" + k.Id.ToString(System.Globalization.CultureInfo.InvariantCulture),
            Target = recorded?.Target,
            Serves = recorded is null || TargetRegistry.Find(recorded.Target) is null ? null : recorded.Describe(),
            File = recorded?.File,
            SizeBytes = k.SizeBytes,
            Queues = k.Queues,
            Depth = k.Depth,
            Ordering = recorded?.Ordering.ToString().ToLowerInvariant(),
            DirectIo = recorded?.DirectIo ?? false,
            BlockSize = recorded?.BlockSize ?? 0,
            ReadOnly = recorded?.ReadOnly ?? false,
            State = k.State,
            Pid = k.ServerPid,
            Flags = k.Flags,
        };
    }

    private static DeviceStatistics StatisticsOf(ServedDevice d)
    {
        IReadOnlyList<UblkQueueStatistics> queues = d.Device.QueueStatistics;
        var total = new QueueReport();
        var histogram = new long[LatencyHistogram.BucketCount];
        var result = new DeviceStatistics { Id = d.Id, BlockDevice = d.Device.BlockDevicePath, Total = total };
        foreach (UblkQueueStatistics q in queues)
        {
            result.Queues.Add(QueueReportOf(q.QueueId, q, q.FlushLatency));
            total.Reads += q.Reads;
            total.Writes += q.Writes;
            total.Flushes += q.Flushes;
            total.Discards += q.Discards;
            total.Errors += q.Errors;
            total.BytesRead += q.BytesRead;
            total.BytesWritten += q.BytesWritten;
            total.InFlight += q.InFlight;
            for (int b = 0; b < histogram.Length && b < q.FlushLatency.Length; b++)
            {
                histogram[b] += q.FlushLatency[b];
            }
        }

        SetPercentiles(total, histogram);
        FlushStatistics f = d.Engine.Sequencer.FlushStatistics;
        result.EngineFlushes = f.Flushes;
        result.EngineSyncs = f.Syncs;
        result.PeakSyncsInFlight = f.PeakSyncsInFlight;
        result.FlushWaitForWritesMs = f.WaitedForWrites.TotalMilliseconds;
        result.FlushWaitBehindSyncsMs = f.WaitedBehindSyncs.TotalMilliseconds;
        result.FlushInSyncMs = f.InSync.TotalMilliseconds;
        result.SyncMs = f.SyncTime.TotalMilliseconds;
        return result;
    }

    private static QueueReport QueueReportOf(int queue, UblkQueueStatistics q, long[] histogram)
    {
        var r = new QueueReport
        {
            Queue = queue,
            Reads = q.Reads,
            Writes = q.Writes,
            Flushes = q.Flushes,
            Discards = q.Discards,
            Errors = q.Errors,
            BytesRead = q.BytesRead,
            BytesWritten = q.BytesWritten,
            InFlight = q.InFlight,
        };
        SetPercentiles(r, histogram);
        return r;
    }

    private static void SetPercentiles(QueueReport r, long[] histogram)
    {
        r.FlushP50Us = LatencyHistogram.Percentile(histogram, 50)?.TotalMicroseconds;
        r.FlushP90Us = LatencyHistogram.Percentile(histogram, 90)?.TotalMicroseconds;
        r.FlushP99Us = LatencyHistogram.Percentile(histogram, 99)?.TotalMicroseconds;
        r.FlushP999Us = LatencyHistogram.Percentile(histogram, 99.9)?.TotalMicroseconds;
    }
}
