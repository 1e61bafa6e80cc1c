using LoopOrder.Service.Configuration;
using LoopOrder.Service.Control;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Hosting.Systemd;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace LoopOrder.Service.Daemon;

/// <summary>
/// The daemon's lifecycle as one hosted service, so the order is explicit. Start: reattach the
/// recorded devices a crashed daemon left, add the configured and command-line devices, open the
/// control socket. All of that happens inside <see cref="StartAsync"/>, before the host counts as
/// started: under systemd the hosting library's SystemdLifetime sends READY=1 on
/// ApplicationStarted, which the host raises only after every hosted service's StartAsync has
/// returned, so READY=1 means "serving". Stop (SIGTERM, SIGINT): the library sends STOPPING=1;
/// close the control socket, then stop, drain, fdatasync and delete every device.
/// </summary>
public sealed class DaemonService : IHostedService, IDisposable
{
    private readonly DaemonOptions _options;
    private readonly DeviceManager _devices;
    private readonly ILogger _logger;
    private readonly ISystemdNotifier? _systemd;
    private readonly DaemonLaunch _launch;
    private readonly ControlServer _control;

    /// <summary>Built by the host.</summary>
    /// <param name="options">Validated settings.</param>
    /// <param name="context">Where things are.</param>
    /// <param name="launch">Devices from the command line and what to tell the caller.</param>
    /// <param name="logger">The daemon's log.</param>
    /// <param name="systemd">The hosting library's notifier, registered only under systemd.</param>
    public DaemonService(IOptions<DaemonOptions> options, ServiceContext context, DaemonLaunch launch, ILogger<DaemonService> logger, ISystemdNotifier? systemd = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(context);
        _options = options.Value;
        _launch = launch;
        _logger = logger;
        _systemd = systemd;
        _devices = new DeviceManager(
            context.Factory(context.ControlPath),
            new DeviceRecords(DaemonOptions.DevicesDirectory(_options.RuntimeDirectory)),
            _options.DeviceStopTimeout,
            logger);
        _control = new ControlServer(DaemonOptions.SocketPath(_options.RuntimeDirectory), _devices, logger);
    }

    /// <summary>The devices (tests look at them).</summary>
    public DeviceManager Devices => _devices;

    /// <summary>The worst final flush result at stop (0 or -errno).</summary>
    public int FinalFlushResult { get; private set; }

    /// <inheritdoc />
    public Task StartAsync(CancellationToken cancellationToken)
    {
        Log.Starting(_logger, Environment.ProcessId, _options.RuntimeDirectory);
        Directory.CreateDirectory(_options.RuntimeDirectory);
        File.SetUnixFileMode(_options.RuntimeDirectory, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        _devices.RecoverRecorded();

        foreach (DeviceOptions device in _options.Devices.Concat(_launch.Devices))
        {
            try
            {
                DeviceReport report = _devices.Add(device);
                _launch.DeviceStarted?.Invoke(report);
            }
            catch (Exception e)
            {
                ServiceException s = ServiceErrors.From(e);
                Log.AddRefused(_logger, s.Message);

                // A device that was asked for and cannot be served fails the start: leave the
                // machine as it was (devices already added are deleted again).
                FinalFlushResult = _devices.StopAll();
                throw s;
            }
        }

        _control.Start();
        Log.Ready(_logger, _devices.Count, _control.Listening ? _control.SocketPath : "(none)");
        if (_systemd is { IsEnabled: true })
        {
            // What `systemctl status` shows; READY=1 follows from the library once this returns.
            SystemdWatchdog.Send(_systemd, $"STATUS=serving {_devices.Count} device(s)", _logger);
        }

        return Task.CompletedTask;
    }

    /// <inheritdoc />
    public Task StopAsync(CancellationToken cancellationToken)
    {
        Log.StoppingDaemon(_logger, _devices.Count);
        _control.Stop();
        FinalFlushResult = Math.Min(FinalFlushResult, _devices.StopAll());
        Log.Stopped(_logger);
        return Task.CompletedTask;
    }

    /// <inheritdoc />
    public void Dispose()
    {
        _control.Dispose();
    }
}

/// <summary>What the command line adds to the configuration: devices, and a callback when each is up.</summary>
public sealed class DaemonLaunch
{
    /// <summary>Devices from <c>serve --file</c>.</summary>
    public IReadOnlyList<DeviceOptions> Devices { get; init; } = [];

    /// <summary>Called as each of the start devices is up (serve prints its block device path).</summary>
    public Action<DeviceReport>? DeviceStarted { get; init; }
}
