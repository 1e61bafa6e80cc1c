using System.Diagnostics;
using System.Globalization;
using LoopOrder.Interop;
using LoopOrder.Interop.Uring;
using LoopOrder.Queues.Requests;
using LoopOrder.Ublk.Control;
using LoopOrder.Ublk.Protocol;
using LoopOrder.Ublk.Queue;
using LoopOrder.Ublk.Structs;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace LoopOrder.Ublk.Device;

/// <summary>
/// A served ublk device: /dev/ublkbN backed by whatever <c>submit</c> hands requests to.
/// </summary>
/// <remarks>
/// <para>
/// <b>Lifecycle.</b> <see cref="Create"/> runs ADD_DEV → SET_PARAMS → GET_QUEUE_AFFINITY per
/// queue → open /dev/ublkcN (waiting for devtmpfs to create it) → one <see cref="UblkQueue"/>
/// thread per queue, each mapping its descriptors and sending FETCH_REQ for every tag →
/// START_DEV, which blocks until the kernel has seen every fetch and then creates /dev/ublkbN.
/// <see cref="Stop"/> sends STOP_DEV: the kernel flushes and removes the disk (the queues keep
/// serving meanwhile), then answers every armed fetch with -ENODEV and the queue threads exit.
/// <see cref="Dispose"/> then closes /dev/ublkcN and sends DEL_DEV. Anything that fails on the
/// way up is undone before the exception leaves <see cref="Create"/>.
/// </para>
/// <para>
/// <b>Requests</b> go to <c>submit</c> on the queue threads; each one's completion
/// (<see cref="BlockRequest.Completion"/>) must be called exactly once, on any thread.
/// </para>
/// </remarks>
public sealed partial class UblkDevice : IDisposable
{
    private static readonly TimeSpan RecoveryBusyTimeout = TimeSpan.FromSeconds(10);
    private static readonly TimeSpan PollInterval = TimeSpan.FromMilliseconds(10);

    private readonly UblkControl _control;
    private readonly ILogger _logger;
    private readonly List<UblkQueue> _queues = [];
    private readonly ManualResetEventSlim _ended = new(false);

    /// <summary>Serializes <see cref="Stop"/>, <see cref="Dispose"/> and <see cref="Abandon"/>: a signal thread and the main thread may both get there.</summary>
    private readonly Lock _lifecycle = new();
    private SafeFileDescriptor? _charDevice;
    private bool _started;
    private bool _stopped;
    private bool _deleted;
    private bool _disposed;

    private UblkDevice(UblkControl control, ublksrv_ctrl_dev_info info, ILogger logger)
    {
        _control = control;
        Info = info;
        _logger = logger;
    }

    /// <summary>The device number N.</summary>
    public uint Id => Info.dev_id;

    /// <summary>/dev/ublkbN.</summary>
    public string BlockDevicePath => "/dev/ublkb" + Id.ToString(CultureInfo.InvariantCulture);

    /// <summary>/dev/ublkcN.</summary>
    public string CharDevicePath => CharDevicePathOf(Id);

    /// <summary>The device info as the kernel negotiated it (queue count, depth, buffer size, flags).</summary>
    public ublksrv_ctrl_dev_info Info { get; private set; }

    /// <summary>The negotiated UBLK_F_* flags: what ADD_DEV granted (the kernel adds some by itself).</summary>
    public UblkFeatures Features => (UblkFeatures)Info.flags;

    /// <summary>What GET_FEATURES offered when the device was created or recovered (None before 6.4).</summary>
    public UblkFeatures Offered { get; private set; }

    /// <summary>The parameters in force (with the device numbers once started).</summary>
    public ublk_params Parameters { get; private set; }

    /// <summary>Per queue, the CPUs GET_QUEUE_AFFINITY reported (its thread is pinned to them).</summary>
    public IReadOnlyList<int[]> QueueCpus { get; private set; } = [];

    /// <summary>Requests received so far, all queues (diagnostics).</summary>
    public long RequestCount => _queues.Sum(q => q.RequestCount);

    /// <summary>Each queue's counters now (racy snapshots; see <see cref="UblkQueueStatistics"/>).</summary>
    public IReadOnlyList<UblkQueueStatistics> QueueStatistics => [.. _queues.Select(q => q.Statistics)];

    /// <summary>Each queue's ring setup flags, in queue order.</summary>
    internal IReadOnlyList<IoUringSetupFlags> QueueRingFlags => [.. _queues.Select(q => q.RingFlags)];

    /// <summary>Managed bytes the queue threads allocated up to their last sleep (the no-allocation test).</summary>
    internal long QueueThreadAllocatedBytes => _queues.Sum(q => q.AllocatedBytes);

    /// <summary>
    /// Set when a queue thread exits: after <see cref="Stop"/>, or because the kernel stopped the
    /// device under us (e.g. deleted by an administrator), or because a queue failed
    /// (<see cref="Fault"/>). A server waits on this beside its shutdown signal.
    /// </summary>
    public WaitHandle EndedHandle => _ended.WaitHandle;

    /// <summary>The first queue failure, if any.</summary>
    public Exception? Fault => _queues.Select(q => q.Fault).FirstOrDefault(f => f is not null);

    /// <summary>
    /// Creates, configures and starts a device; returns once /dev/ublkbN exists.
    /// </summary>
    /// <param name="options">The device to create.</param>
    /// <param name="submit">Receives every request, on the queue threads.</param>
    /// <param name="logger">Where problems are reported.</param>
    /// <exception cref="UblkUnavailableException">/dev/ublk-control is missing (ublk_drv not loaded).</exception>
    /// <exception cref="ErrnoException">A control command or a system call failed; nothing is left behind.</exception>
    public static UblkDevice Create(UblkDeviceOptions options, Action<BlockRequest> submit, ILogger? logger = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(submit);
        options.Validate();
        logger ??= NullLogger.Instance;

        var control = UblkControl.Open(options.ControlPath);
        UblkDevice? device = null;
        try
        {
            UblkFeatures offered = QueryFeatures(control, logger);
            ublksrv_ctrl_dev_info request = BuildDeviceInfo(options, offered);
            ublksrv_ctrl_dev_info info = control.AddDevice(request);
            device = new UblkDevice(control, info, logger) { Offered = offered };
            LogAdded(logger, info.dev_id, info.nr_hw_queues, info.queue_depth, info.max_io_buf_bytes, (UblkFeatures)info.flags);
            WarnIfRecoveryCanOops(logger, info);

            ublk_params parameters = BuildParams(options, info);
            control.SetParams(info.dev_id, parameters);
            device.Serve(options, submit);
            LogStarting(logger, info.dev_id);
            control.StartDevice(info.dev_id, Environment.ProcessId);
            device._started = true;
            device.Parameters = control.GetParams(info.dev_id);
            LogStarted(logger, info.dev_id, device.Parameters.devt.disk_major, device.Parameters.devt.disk_minor);
            if (options.IoScheduler is { } scheduler)
            {
                BlockQueueSettings.TrySetScheduler(device.BlockDevicePath, scheduler, logger);
            }

            return device;
        }
        catch
        {
            if (device is null)
            {
                control.Dispose();
            }
            else
            {
                device.Teardown();
            }

            throw;
        }
    }

    /// <summary>
    /// Takes over a device whose server died (added with <see cref="UblkDeviceOptions.UserRecovery"/>,
    /// now quiesced): START_USER_RECOVERY (retried while the old server's char device is still
    /// held), new queue threads fetch every tag, END_USER_RECOVERY resumes I/O, and requests the
    /// old server had in flight are sent again (REISSUE).
    /// </summary>
    /// <remarks>
    /// A server killed between START_USER_RECOVERY and the last queue's FETCH_REQ leaves the
    /// 6.12 driver in a state its next START_USER_RECOVERY handles badly: with no queue armed it
    /// refuses with EINVAL for good (it has reset the queues already, so this goes on without it,
    /// see <see cref="RecoveryInterrupted"/>); with the descriptors mapped by the dead process it
    /// refuses the new mapping; with one queue armed and another not it dereferences the missing
    /// queue thread. So everything that can happen before START_USER_RECOVERY does: the queue
    /// CPUs, the buffers, the threads pinned with their rings set up. After it come only opening
    /// /dev/ublkcN, one mmap per queue and each thread's single submit of every FETCH_REQ, which
    /// keeps that window to well under a millisecond.
    /// </remarks>
    /// <param name="deviceId">The device number.</param>
    /// <param name="options">Only <see cref="UblkDeviceOptions.PinQueues"/>, <see cref="UblkDeviceOptions.NodeForCpus"/>,
    /// <see cref="UblkDeviceOptions.ControlPath"/> and <see cref="UblkDeviceOptions.CharDeviceTimeout"/> matter: the
    /// geometry is the device's.</param>
    /// <param name="submit">Receives every request, on the queue threads.</param>
    /// <param name="logger">Where problems are reported.</param>
    public static UblkDevice Recover(uint deviceId, UblkDeviceOptions options, Action<BlockRequest> submit, ILogger? logger = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(submit);
        logger ??= NullLogger.Instance;
        var control = UblkControl.Open(options.ControlPath);
        UblkDevice? device = null;
        try
        {
            ublksrv_ctrl_dev_info info = control.GetDeviceInfo(deviceId);
            device = new UblkDevice(control, info, logger) { Offered = QueryFeatures(control, logger) };
            WarnIfRecoveryCanOops(logger, info);
            device.PrepareQueues(options, submit);
            var deadline = Stopwatch.StartNew();
            while (true)
            {
                try
                {
                    control.StartUserRecovery(deviceId);
                    break;
                }
                catch (ErrnoException e) when (e.Errno == Errno.EBUSY && deadline.Elapsed < RecoveryBusyTimeout)
                {
                    // The dying server's /dev/ublkcN is not released yet, or the kernel has not
                    // quiesced the device yet.
                    Thread.Sleep(PollInterval);
                }
                catch (ErrnoException e) when (e.Errno == Errno.EINVAL && RecoveryInterrupted(control.GetDeviceInfo(deviceId)))
                {
                    LogRecoveryInterrupted(logger, deviceId);
                    break;
                }
            }

            try
            {
                device.AttachQueues(options.CharDeviceTimeout);
            }
            catch (ErrnoException e) when (e.Errno == Errno.EINVAL)
            {
                throw new IOException(
                    $"ublk device {deviceId}: the driver refuses to map /dev/ublkc{deviceId} to this process ({e.Message}): a server that died while recovering it had mapped it, and this kernel keeps the device bound to that process. Delete the device (DEL_DEV) and add it again.",
                    e);
            }

            control.EndUserRecovery(deviceId, Environment.ProcessId);
            device._started = true;
            device.Info = control.GetDeviceInfo(deviceId);
            device.Parameters = control.GetParams(deviceId);
            return device;
        }
        catch
        {
            if (device is null)
            {
                control.Dispose();
            }
            else
            {
                // Leave the device for another attempt: abort our queues and close the char
                // device, but do not delete it.
                device._deleted = true;
                device.Teardown();
            }

            throw;
        }
    }

    /// <summary>
    /// The ublksrv_ctrl_dev_info ADD_DEV sends: the geometry asked for and the flags
    /// <see cref="UblkNegotiation.Request"/> picks from what the kernel offered.
    /// </summary>
    /// <param name="options">The device to create.</param>
    /// <param name="offered">What GET_FEATURES reported.</param>
    /// <exception cref="UblkFeatureUnavailableException">An option needs a flag the kernel lacks.</exception>
    public static ublksrv_ctrl_dev_info BuildDeviceInfo(UblkDeviceOptions options, UblkFeatures offered)
    {
        ArgumentNullException.ThrowIfNull(options);
        UblkFeatures flags = UblkNegotiation.Request(options, offered);

        return new ublksrv_ctrl_dev_info
        {
            nr_hw_queues = (ushort)options.Queues,
            queue_depth = (ushort)options.QueueDepth,
            max_io_buf_bytes = (uint)options.MaxIoBytes,
            dev_id = options.DeviceId,
            ublksrv_pid = -1,
            flags = (ulong)flags,
        };
    }

    /// <summary>
    /// The parameters SET_PARAMS sends: a write-back cache (VOLATILE_CACHE, so the kernel sends
    /// FLUSH) that honours FUA (so REQ_FUA reaches the engine), the block sizes, max_sectors from
    /// the negotiated buffer size, and the discard / write-zeroes limits.
    /// </summary>
    /// <param name="options">The device to create.</param>
    /// <param name="info">What ADD_DEV negotiated.</param>
    public static ublk_params BuildParams(UblkDeviceOptions options, in ublksrv_ctrl_dev_info info)
    {
        ArgumentNullException.ThrowIfNull(options);
        UblkAttributes attrs = UblkAttributes.VolatileCache | UblkAttributes.Fua;
        if (options.ReadOnly)
        {
            attrs |= UblkAttributes.ReadOnly;
        }

        byte physicalShift = (byte)int.Log2(options.PhysicalBlockSize);
        var p = new ublk_params
        {
            // The whole struct as this build knows it; the kernel copies min(len, its size).
            len = ublk_params.Size,
            types = (uint)UblkParamTypes.Basic,
            basic = new ublk_param_basic
            {
                attrs = (uint)attrs,
                logical_bs_shift = (byte)int.Log2(options.LogicalBlockSize),
                physical_bs_shift = physicalShift,

                // mkfs reads io_min/io_opt as stride and stripe width: the physical block says
                // "no striping here", which is the truth for a file.
                io_min_shift = physicalShift,
                io_opt_shift = physicalShift,
                max_sectors = info.max_io_buf_bytes >> BlockRequest.SectorShift,
                dev_sectors = (ulong)options.SizeBytes >> BlockRequest.SectorShift,
            },
        };

        if (options.Discard && !options.ReadOnly)
        {
            p.types |= (uint)UblkParamTypes.Discard;
            p.discard = new ublk_param_discard
            {
                discard_alignment = 0,
                discard_granularity = Math.Max(UblkDeviceOptions.DiscardGranularity, (uint)options.LogicalBlockSize),
                max_discard_sectors = UblkDeviceOptions.MaxDiscardSectors,
                max_write_zeroes_sectors = UblkDeviceOptions.MaxDiscardSectors,

                // The driver supports single-range discards only.
                max_discard_segments = 1,
            };
        }

        return p;
    }

    /// <summary>
    /// STOP_DEV, then waits for the queue threads to see their tags aborted and exit. The kernel
    /// flushes and removes /dev/ublkbN first, so requests keep flowing until STOP_DEV returns.
    /// </summary>
    /// <param name="timeout">How long each queue may take to exit after STOP_DEV before it is aborted.</param>
    public void Stop(TimeSpan timeout)
    {
        lock (_lifecycle)
        {
            if (_stopped || !_started)
            {
                return;
            }

            _stopped = true;
            try
            {
                _control.StopDevice(Id);
            }
            catch (ErrnoException e)
            {
                LogStopFailed(_logger, e, Id);
            }

            JoinQueues(timeout);
        }
    }

    private void JoinQueues(TimeSpan timeout)
    {
        foreach (UblkQueue queue in _queues)
        {
            if (!queue.Join(timeout))
            {
                LogQueueStuck(_logger, Id, queue.QueueId);
                queue.Abort();
                queue.Join(timeout);
            }
        }
    }

    /// <summary>
    /// TRY_STOP_DEV: stops the device like <see cref="Stop"/> unless someone has /dev/ublkbN open
    /// (a mount, a holder such as dm or md, any process), in which case nothing changes and it
    /// returns false. Needs UBLK_F_SAFE_STOP_DEV (see <see cref="Features"/>); without it throws
    /// <see cref="UblkFeatureUnavailableException"/>, and the caller checks for openers itself.
    /// </summary>
    /// <param name="timeout">How long each queue may take to exit after the stop.</param>
    public bool TryStop(TimeSpan timeout)
    {
        lock (_lifecycle)
        {
            if (_stopped || !_started)
            {
                return true;
            }

            if ((Features & UblkFeatures.SafeStopDev) == 0)
            {
                throw new UblkFeatureUnavailableException(UblkFeatures.SafeStopDev, "stopping only an unused device (TRY_STOP_DEV)");
            }

            if (!_control.TryStopDevice(Id))
            {
                return false;
            }

            _stopped = true;
            JoinQueues(timeout);
            return true;
        }
    }

    /// <summary>
    /// UPDATE_SIZE: the live device's capacity becomes <paramref name="sizeBytes"/> (the kernel
    /// tells the block layer and sends a change uevent). The caller resizes what backs it first
    /// when growing, after when shrinking. Needs UBLK_F_UPDATE_SIZE.
    /// </summary>
    /// <param name="sizeBytes">The new size, a multiple of the logical block size.</param>
    /// <exception cref="UblkFeatureUnavailableException">The device was not granted UBLK_F_UPDATE_SIZE.</exception>
    public void Resize(long sizeBytes)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(sizeBytes);
        int logical = 1 << Parameters.basic.logical_bs_shift;
        if (sizeBytes % logical != 0)
        {
            throw new ArgumentException($"The size ({sizeBytes} bytes) is not a multiple of the logical block size ({logical}).", nameof(sizeBytes));
        }

        if ((Features & UblkFeatures.UpdateSize) == 0)
        {
            throw new UblkFeatureUnavailableException(UblkFeatures.UpdateSize, "resizing a live device (UPDATE_SIZE)");
        }

        lock (_lifecycle)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            _control.UpdateSize(Id, (ulong)sizeBytes >> BlockRequest.SectorShift);
            Parameters = _control.GetParams(Id);
        }
    }

    /// <summary>
    /// Stops the device if it still runs, closes /dev/ublkcN and deletes the device (DEL_DEV
    /// waits while anyone still holds /dev/ublkbN open). Frees the queues' buffers once nothing
    /// uses them: call it after the engine went idle.
    /// </summary>
    public void Dispose()
    {
        lock (_lifecycle)
        {
            if (_disposed)
            {
                return;
            }

            _disposed = true;
            Stop(TimeSpan.FromSeconds(30));
            Teardown();
        }
    }

    /// <summary>
    /// Leaves the device to the kernel the way a crashed server does: the queue threads leave and
    /// close their rings (which cancels their fetches), the descriptors are unmapped and
    /// /dev/ublkcN is closed, and nothing is stopped or deleted. A device added with
    /// <see cref="UblkDeviceOptions.UserRecovery"/> then waits, quiesced, for <see cref="Recover"/>.
    /// For recovery tests; a server that means to stop calls <see cref="Dispose"/>.
    /// </summary>
    internal void Abandon()
    {
        lock (_lifecycle)
        {
            _disposed = true;
            _deleted = true;
            Teardown();
        }
    }

    /// <summary>
    /// True when START_USER_RECOVERY's EINVAL means "a recovery was started and its server died
    /// before any queue armed": the device has recovery, is quiesced (FAIL_IO for a device with
    /// USER_RECOVERY_FAIL_IO), and its queues were already reset (6.12 refuses then because no
    /// queue is ready, not because recovery is impossible).
    /// </summary>
    /// <param name="info">The device now.</param>
    internal static bool RecoveryInterrupted(in ublksrv_ctrl_dev_info info) =>
        ((UblkFeatures)info.flags).HasFlag(UblkFeatures.UserRecovery)
        && info.state is (ushort)UblkDeviceState.Quiesced or (ushort)UblkDeviceState.FailIo;

    /// <summary>
    /// The first release whose START_USER_RECOVERY copes with a recovery that died with some
    /// queues armed and others not (ublk "move device reset into ublk_ch_release()", 6.15). Before
    /// it, e.g. on 6.12.95, that START_USER_RECOVERY oopses the kernel (ublk_queue_reinit puts a
    /// NULL task): a SIGKILL of the recovering server inside the window between its first and its
    /// last queue's FETCH_REQs, which no server can close (tests/vm/sigkill/partial.sh shows it
    /// without LoopOrder). A 1-queue device has no such window. No feature bit marks the fix.
    /// </summary>
    internal static readonly Version PartialRecoverySafeFrom = new(6, 15);

    /// <summary>True when a device of <paramref name="queues"/> queues on <paramref name="kernel"/> has that window.</summary>
    /// <param name="kernel">The running kernel's release.</param>
    /// <param name="queues">The device's hardware queues.</param>
    internal static bool RecoveryCanOops(Version kernel, int queues) => queues > 1 && kernel < PartialRecoverySafeFrom;

    private static void WarnIfRecoveryCanOops(ILogger logger, in ublksrv_ctrl_dev_info info)
    {
        if (RecoveryCanOops(Environment.OSVersion.Version, info.nr_hw_queues))
        {
            LogRecoveryCanOops(logger, info.dev_id, info.nr_hw_queues, Environment.OSVersion.Version, PartialRecoverySafeFrom);
        }
    }

    private static string CharDevicePathOf(uint id) => "/dev/ublkc" + id.ToString(CultureInfo.InvariantCulture);

    private static UblkFeatures QueryFeatures(UblkControl control, ILogger logger)
    {
        try
        {
            return control.GetFeatures();
        }
        catch (ErrnoException e) when (e.Errno is Errno.EOPNOTSUPP or Errno.EINVAL)
        {
            // Kernels before 6.4 lack GET_FEATURES: ask for nothing optional.
            LogNoFeatures(logger, e.Message);
            return UblkFeatures.None;
        }
    }

    /// <summary>Everything between ADD_DEV and START_DEV.</summary>
    private void Serve(UblkDeviceOptions options, Action<BlockRequest> submit)
    {
        PrepareQueues(options, submit);
        AttachQueues(options.CharDeviceTimeout);
    }

    /// <summary>
    /// What needs no /dev/ublkcN: each queue's CPUs, buffers and requests, and its thread, pinned
    /// with its ring set up, waiting for <see cref="AttachQueues"/>.
    /// </summary>
    private void PrepareQueues(UblkDeviceOptions options, Action<BlockRequest> submit)
    {
        uint id = Info.dev_id;
        int queues = Info.nr_hw_queues;
        var cpus = new int[queues][];
        for (int q = 0; q < queues; q++)
        {
            cpus[q] = _control.GetQueueAffinity(id, q);
        }

        QueueCpus = cpus;
        for (int q = 0; q < queues; q++)
        {
            var queueOptions = new UblkQueueOptions
            {
                DeviceId = id,
                QueueId = q,
                Depth = Info.queue_depth,
                BufferBytes = checked((int)Info.max_io_buf_bytes),
                Cpus = cpus[q],
                Node = options.NodeForCpus is { } resolve && cpus[q].Length > 0 ? resolve(cpus[q]) : 0,
                Pin = options.PinQueues,
                ThreadInit = options.QueueThreadInit,
                ZeroCopy = (Features & UblkFeatures.AutoBufReg) != 0,
                BatchIo = (Features & UblkFeatures.BatchIo) != 0,
            };
            var queue = new UblkQueue(queueOptions, submit, _logger) { Exited = _ => _ended.Set() };
            _queues.Add(queue);
            queue.Start();
            LogQueueStarted(_logger, id, q, string.Join(',', cpus[q]), queueOptions.Node);
        }
    }

    /// <summary>Opens /dev/ublkcN, maps each queue's descriptors and waits until every tag is fetched.</summary>
    private void AttachQueues(TimeSpan charDeviceTimeout)
    {
        _charDevice = OpenCharDevice(CharDevicePathOf(Info.dev_id), charDeviceTimeout);
        foreach (UblkQueue queue in _queues)
        {
            queue.Attach(_charDevice);
        }

        foreach (UblkQueue queue in _queues)
        {
            queue.WaitArmed();
        }
    }

    /// <summary>
    /// Opens /dev/ublkcN, waiting while devtmpfs has not created it yet (without udev nothing
    /// else announces it).
    /// </summary>
    private static SafeFileDescriptor OpenCharDevice(string path, TimeSpan timeout)
    {
        var clock = Stopwatch.StartNew();
        while (true)
        {
            try
            {
                return FileDescriptor.Open(path, OpenFlags.ReadWrite);
            }
            catch (ErrnoException e) when (e.Errno == Errno.ENOENT && clock.Elapsed < timeout)
            {
                Thread.Sleep(PollInterval);
            }
        }
    }

    /// <summary>Undoes whatever part of the setup happened: queues, char device, device, control.</summary>
    private void Teardown()
    {
        foreach (UblkQueue queue in _queues)
        {
            queue.Abort();
        }

        foreach (UblkQueue queue in _queues)
        {
            if (!queue.Join(TimeSpan.FromSeconds(10)))
            {
                LogQueueStuck(_logger, Id, queue.QueueId);
            }
        }

        // DEL_DEV waits until /dev/ublkcN is released, and the descriptor mappings hold it as much
        // as the descriptor does: unmap (queue Dispose), then close.
        bool released = true;
        foreach (UblkQueue queue in _queues)
        {
            queue.Dispose();
            released &= !queue.IsRunning;
        }

        _charDevice?.Dispose();
        if (!_deleted)
        {
            _deleted = true;
            try
            {
                if (released)
                {
                    _control.DeleteDevice(Id);
                }
                else
                {
                    // A stuck queue still maps the char device: DEL_DEV would wait forever, the
                    // async form removes the device when it is finally released.
                    _control.DeleteDeviceAsync(Id);
                }
            }
            catch (ErrnoException e)
            {
                LogDeleteFailed(_logger, e, Id);
            }
        }

        _control.Dispose();
        _ended.Set();
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "ublk device {Id} added: {Queues} queue(s) × {Depth} tags, {MaxIoBytes}-byte buffers, flags {Flags}")]
    private static partial void LogAdded(ILogger logger, uint id, int queues, int depth, uint maxIoBytes, UblkFeatures flags);

    [LoggerMessage(Level = LogLevel.Debug, Message = "ublk device {Id}: every tag armed; START_DEV")]
    private static partial void LogStarting(ILogger logger, uint id);

    [LoggerMessage(Level = LogLevel.Debug, Message = "ublk device {Id} started: block device {Major}:{Minor}")]
    private static partial void LogStarted(ILogger logger, uint id, uint major, uint minor);

    [LoggerMessage(Level = LogLevel.Debug, Message = "ublk device {Id} queue {Queue}: CPUs {Cpus}, node {Node}")]
    private static partial void LogQueueStarted(ILogger logger, uint id, int queue, string cpus, int node);

    [LoggerMessage(Level = LogLevel.Information, Message = "GET_FEATURES unavailable ({Reason}); requesting no optional features")]
    private static partial void LogNoFeatures(ILogger logger, string reason);

    [LoggerMessage(Level = LogLevel.Warning, Message = "ublk device {Id}: START_USER_RECOVERY refused with EINVAL while quiesced: an earlier recovery died before its queues armed, and the driver reset them already; fetching without it")]
    private static partial void LogRecoveryInterrupted(ILogger logger, uint id);

    [LoggerMessage(Level = LogLevel.Warning, Message = "ublk device {Id}: {Queues} queues on kernel {Kernel}: a SIGKILL of this daemon while it recovers the device, between its first and last queue arming, makes the next recovery oops this kernel (fixed in {FixedIn}); --queues 1 has no such window")]
    private static partial void LogRecoveryCanOops(ILogger logger, uint id, int queues, Version kernel, Version fixedIn);

    [LoggerMessage(Level = LogLevel.Error, Message = "ublk device {Id}: STOP_DEV failed")]
    private static partial void LogStopFailed(ILogger logger, Exception exception, uint id);

    [LoggerMessage(Level = LogLevel.Error, Message = "ublk device {Id}: DEL_DEV failed")]
    private static partial void LogDeleteFailed(ILogger logger, Exception exception, uint id);

    [LoggerMessage(Level = LogLevel.Warning, Message = "ublk device {Id}: queue {Queue} did not exit in time")]
    private static partial void LogQueueStuck(ILogger logger, uint id, int queue);
}
