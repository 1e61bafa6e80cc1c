using System.Globalization;
using LoopOrder.Interop;
using LoopOrder.Interop.Uring;
using LoopOrder.Ublk.Protocol;
using LoopOrder.Ublk.Structs;

namespace LoopOrder.Ublk.Control;

/// <summary>
/// The client of /dev/ublk-control: every UBLK_U_CMD_* the server needs, sent as
/// IORING_OP_URING_CMD on an SQE128 ring, one command at a time, each call waiting for its
/// completion. A failed command throws an <see cref="ErrnoException"/> whose
/// <see cref="ErrnoException.Operation"/> names it ("ublk ADD_DEV").
/// </summary>
/// <remarks>
/// Thread-safe. Each command gets a fresh two-slot ring: an <see cref="IoUring"/> belongs to the
/// thread that made it, control commands come from whichever thread runs setup or shutdown, and
/// they are rare, so a ring per command (microseconds) is simpler than a ring per thread.
/// Commands that block in the kernel (START_DEV waits for every FETCH_REQ, DEL_DEV for the
/// device to be released) block the calling thread.
/// </remarks>
public sealed unsafe class UblkControl : IDisposable
{
    /// <summary>The control device.</summary>
    public const string DefaultPath = "/dev/ublk-control";

    /// <summary>dev_id for ADD_DEV that lets the kernel choose the number.</summary>
    public const uint AnyDeviceId = uint.MaxValue;

    // GET_QUEUE_AFFINITY wants a buffer of whole longs covering nr_cpu_ids bits. Start at 1024
    // CPUs (glibc's cpu_set_t) and double on EINVAL up to the x86-64 CONFIG_NR_CPUS limit.
    private const int InitialAffinityBytes = 1024 / 8;
    private const int MaxAffinityBytes = 8192 / 8;

    private readonly SafeFileDescriptor _fd;

    private UblkControl(SafeFileDescriptor fd, string path)
    {
        _fd = fd;
        Path = path;
    }

    /// <summary>The control device this client talks to.</summary>
    public string Path { get; }

    /// <summary>Opens the control device.</summary>
    /// <param name="path">Normally <see cref="DefaultPath"/>.</param>
    /// <exception cref="UblkUnavailableException">The device does not exist (ublk_drv is not loaded).</exception>
    /// <exception cref="ErrnoException">Any other open failure (EACCES: not root).</exception>
    public static UblkControl Open(string path = DefaultPath)
    {
        ArgumentNullException.ThrowIfNull(path);
        try
        {
            return new UblkControl(FileDescriptor.Open(path, OpenFlags.ReadWrite), path);
        }
        catch (ErrnoException e) when (e.Errno is Errno.ENOENT or Errno.ENXIO or Errno.ENODEV)
        {
            // ENXIO/ENODEV: a stale node in a static /dev whose driver is gone.
            throw new UblkUnavailableException(path);
        }
        catch (ErrnoException e) when (e.Errno is Errno.EACCES or Errno.EPERM)
        {
            throw ErrnoException.FromErrno(e.Errno, "open", path, "creating ublk devices needs root (CAP_SYS_ADMIN)");
        }
    }

    /// <summary>True when <paramref name="path"/> exists, without opening it.</summary>
    /// <param name="path">Normally <see cref="DefaultPath"/>.</param>
    public static bool IsAvailable(string path = DefaultPath) => File.Exists(path);

    /// <summary>GET_FEATURES: the UBLK_F_* this kernel supports (UBLK_F_ALL minus zero copy on 6.12).</summary>
    public UblkFeatures GetFeatures()
    {
        ulong features = 0;
        var cmd = UblkControlCommands.GetFeatures((ulong)&features);
        Execute(UblkCommand.GetFeatures, ref cmd);
        return (UblkFeatures)features;
    }

    /// <summary>
    /// ADD_DEV: creates the device (and /dev/ublkcN). Returns what the kernel wrote back: the
    /// number, the negotiated flags, the queue count (capped at the CPU count) and the buffer
    /// size (rounded down to a page).
    /// </summary>
    /// <param name="info">
    /// nr_hw_queues, queue_depth, max_io_buf_bytes, flags, and dev_id (<see cref="AnyDeviceId"/>
    /// for any).
    /// </param>
    public ublksrv_ctrl_dev_info AddDevice(in ublksrv_ctrl_dev_info info)
    {
        ublksrv_ctrl_dev_info inout = info;
        var cmd = UblkControlCommands.AddDevice(info.dev_id, (ulong)&inout);
        Execute(UblkCommand.AddDev, ref cmd);
        return inout;
    }

    /// <summary>SET_PARAMS: before START_DEV only (EACCES afterwards). <c>len</c> must be set.</summary>
    /// <param name="deviceId">The device.</param>
    /// <param name="parameters">The parameters; DEVT must not be among the types.</param>
    public void SetParams(uint deviceId, in ublk_params parameters)
    {
        ublk_params copy = parameters;
        var cmd = UblkControlCommands.SetParams(deviceId, (ulong)&copy);
        Execute(UblkCommand.SetParams, ref cmd);
    }

    /// <summary>GET_PARAMS: the parameters in force, with the device numbers (DEVT) filled in.</summary>
    /// <param name="deviceId">The device.</param>
    public ublk_params GetParams(uint deviceId)
    {
        var p = new ublk_params { len = ublk_params.Size };
        var cmd = UblkControlCommands.GetParams(deviceId, (ulong)&p);
        Execute(UblkCommand.GetParams, ref cmd);
        return p;
    }

    /// <summary>GET_DEV_INFO.</summary>
    /// <param name="deviceId">The device.</param>
    public ublksrv_ctrl_dev_info GetDeviceInfo(uint deviceId)
    {
        ublksrv_ctrl_dev_info info = default;
        var cmd = UblkControlCommands.GetDeviceInfo(deviceId, (ulong)&info);
        Execute(UblkCommand.GetDevInfo, ref cmd);
        return info;
    }

    /// <summary>GET_QUEUE_AFFINITY: the CPUs whose requests the block layer maps to <paramref name="queueId"/>, ascending.</summary>
    /// <param name="deviceId">The device.</param>
    /// <param name="queueId">The queue.</param>
    public int[] GetQueueAffinity(uint deviceId, int queueId)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(queueId);
        for (int bytes = InitialAffinityBytes; ; bytes *= 2)
        {
            ulong* mask = stackalloc ulong[bytes / sizeof(ulong)];
            var cmd = UblkControlCommands.GetQueueAffinity(deviceId, queueId, (ulong)mask, (ushort)bytes);
            int res = TryExecute(UblkCommand.GetQueueAffinity, ref cmd);
            if (res == Errno.EINVAL.ToResult() && bytes < MaxAffinityBytes)
            {
                // Too few bits for this kernel's nr_cpu_ids (or a bad queue, which fails again at the cap).
                continue;
            }

            ThrowIfFailed(res, UblkCommand.GetQueueAffinity, deviceId);
            var cpus = new List<int>();
            for (int word = 0; word < bytes / sizeof(ulong); word++)
            {
                for (ulong w = mask[word]; w != 0; w &= w - 1)
                {
                    cpus.Add((word * 64) + System.Numerics.BitOperations.TrailingZeroCount(w));
                }
            }

            return [.. cpus];
        }
    }

    /// <summary>
    /// START_DEV: creates /dev/ublkbN. Blocks until every tag of every queue has been fetched,
    /// so the queue threads must have sent their FETCH_REQs (or be about to) from other threads.
    /// </summary>
    /// <param name="deviceId">The device.</param>
    /// <param name="serverPid">This process's id (the kernel reports it as ublksrv_pid).</param>
    public void StartDevice(uint deviceId, int serverPid)
    {
        var cmd = UblkControlCommands.StartDevice(deviceId, serverPid);
        Execute(UblkCommand.StartDev, ref cmd);
    }

    /// <summary>
    /// STOP_DEV: removes /dev/ublkbN (flushing it first, so the queues must still be serving),
    /// then completes every armed fetch with -ENODEV.
    /// </summary>
    /// <param name="deviceId">The device.</param>
    public void StopDevice(uint deviceId)
    {
        var cmd = UblkControlCommands.StopDevice(deviceId);
        Execute(UblkCommand.StopDev, ref cmd);
    }

    /// <summary>DEL_DEV: removes the device; waits until /dev/ublkcN is closed and the number is free.</summary>
    /// <param name="deviceId">The device.</param>
    public void DeleteDevice(uint deviceId)
    {
        var cmd = UblkControlCommands.DeleteDevice(deviceId);
        Execute(UblkCommand.DelDev, ref cmd);
    }

    /// <summary>DEL_DEV_ASYNC: removes the device without waiting for it to be released.</summary>
    /// <param name="deviceId">The device.</param>
    public void DeleteDeviceAsync(uint deviceId)
    {
        var cmd = UblkControlCommands.DeleteDeviceAsync(deviceId);
        Execute(UblkCommand.DelDevAsync, ref cmd);
    }

    /// <summary>
    /// START_USER_RECOVERY: a device whose server died (state QUIESCED, added with USER_RECOVERY)
    /// gets ready for a new server. EBUSY until the old server's /dev/ublkcN is closed.
    /// </summary>
    /// <param name="deviceId">The device.</param>
    public void StartUserRecovery(uint deviceId)
    {
        var cmd = UblkControlCommands.StartUserRecovery(deviceId);
        Execute(UblkCommand.StartUserRecovery, ref cmd);
    }

    /// <summary>END_USER_RECOVERY: blocks until the new server fetched every tag, then resumes I/O.</summary>
    /// <param name="deviceId">The device.</param>
    /// <param name="serverPid">The new server's pid.</param>
    public void EndUserRecovery(uint deviceId, int serverPid)
    {
        var cmd = UblkControlCommands.EndUserRecovery(deviceId, serverPid);
        Execute(UblkCommand.EndUserRecovery, ref cmd);
    }

    /// <inheritdoc />
    public void Dispose() => _fd.Dispose();

    private void Execute(uint command, ref ublksrv_ctrl_cmd cmd) =>
        ThrowIfFailed(TryExecute(command, ref cmd), command, cmd.dev_id);

    /// <summary>Sends one command and returns the CQE's result (0 or -errno).</summary>
    private int TryExecute(uint command, ref ublksrv_ctrl_cmd cmd)
    {
        ObjectDisposedException.ThrowIf(_fd.IsClosed, this);
        bool added = false;
        try
        {
            _fd.DangerousAddRef(ref added);

            // SQE128 is mandatory: the driver refuses control commands from 64-byte SQEs.
            using var ring = new IoUring(2, IoUringSetupFlags.Sqe128);
            if (!ring.TryGetSqe(out io_uring_sqe* sqe))
            {
                throw new InvalidOperationException("A new ring has no free SQE.");
            }

            UblkSqe.Control(sqe, _fd.RawFd, command, in cmd, command);
            ring.SubmitAndWait(1);
            if (!ring.TryPeekCqe(out io_uring_cqe cqe))
            {
                throw new InvalidOperationException("io_uring_enter returned without the completion it waited for.");
            }

            ring.AdvanceCq(1);
            return cqe.res;
        }
        finally
        {
            if (added)
            {
                _fd.DangerousRelease();
            }
        }
    }

    private void ThrowIfFailed(int res, uint command, uint deviceId)
    {
        if (res >= 0)
        {
            return;
        }

        Errno errno = ErrnoExtensions.ErrnoOf(res);
        string device = deviceId == AnyDeviceId ? Path : string.Create(CultureInfo.InvariantCulture, $"{Path} (device {deviceId})");
        string? detail = (command, errno) switch
        {
            (_, Errno.EPERM) => "ublk control commands need CAP_SYS_ADMIN",
            (_, Errno.EOPNOTSUPP) => "this kernel's ublk_drv does not know the command",
            (UblkCommand.SetParams, Errno.EACCES) => "the device is already started",
            (UblkCommand.SetParams, Errno.EINVAL) => "the kernel refused the parameters",
            (UblkCommand.StartDev, Errno.EEXIST) => "the device is already started",
            (UblkCommand.StartUserRecovery, Errno.EBUSY) => "the old server still holds the char device, or the device is not quiesced",
            (_, Errno.ENODEV) => "no such device",
            _ => null,
        };
        ErrnoException.Throw(errno, "ublk " + UblkCommand.Name(command), device, detail);
    }
}
