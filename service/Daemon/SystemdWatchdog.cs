using System.Globalization;
using System.Net.Sockets;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Hosting.Systemd;
using Microsoft.Extensions.Logging;

namespace LoopOrder.Service.Daemon;

/// <summary>
/// WATCHDOG=1 through the hosting library's notifier, every half of the interval systemd asked for
/// (WatchdogSec= in the unit, passed as $WATCHDOG_USEC), as sd_watchdog_enabled(3) advises. The
/// library (Microsoft.Extensions.Hosting.Systemd) sends READY=1 and STOPPING=1 but no watchdog
/// pings, so this service adds them. Registered before <see cref="DaemonService"/>, so the host
/// stops it after the daemon: pings go on while a stop drains and deletes the devices. Does nothing
/// outside systemd or without a watchdog.
/// </summary>
public sealed class SystemdWatchdog : IHostedService, IDisposable
{
    private readonly ISystemdNotifier? _systemd;
    private readonly TimeSpan? _interval;
    private readonly ILogger _logger;
    private Timer? _timer;

    /// <summary>Built by the host.</summary>
    /// <param name="context">Carries a test's interval; otherwise $WATCHDOG_USEC is read.</param>
    /// <param name="logger">Where a failed ping is reported.</param>
    /// <param name="systemd">The library's notifier, registered only under systemd.</param>
    public SystemdWatchdog(ServiceContext context, ILogger<SystemdWatchdog> logger, ISystemdNotifier? systemd = null)
    {
        ArgumentNullException.ThrowIfNull(context);
        _systemd = systemd;
        _interval = context.WatchdogInterval ?? IntervalFromEnvironment();
        _logger = logger;
    }

    /// <summary>
    /// The watchdog interval systemd asked for: $WATCHDOG_USEC, when $WATCHDOG_PID is absent or
    /// names this process (sd_watchdog_enabled(3)); otherwise null.
    /// </summary>
    public static TimeSpan? IntervalFromEnvironment()
    {
        string? pid = Environment.GetEnvironmentVariable("WATCHDOG_PID");
        if (!string.IsNullOrEmpty(pid) && pid != Environment.ProcessId.ToString(CultureInfo.InvariantCulture))
        {
            return null;
        }

        return long.TryParse(Environment.GetEnvironmentVariable("WATCHDOG_USEC"), NumberStyles.None, CultureInfo.InvariantCulture, out long usec) && usec > 0
            ? TimeSpan.FromMicroseconds(usec)
            : null;
    }

    /// <summary>Sends one state through the library's notifier; a failure is logged, not thrown (a lost ping is systemd's to judge).</summary>
    /// <param name="systemd">The notifier.</param>
    /// <param name="state">e.g. "WATCHDOG=1", "STATUS=…".</param>
    /// <param name="logger">Where a failure goes.</param>
    public static void Send(ISystemdNotifier systemd, string state, ILogger logger)
    {
        ArgumentNullException.ThrowIfNull(systemd);
        try
        {
            systemd.Notify(new ServiceState(state));
        }
        catch (SocketException e)
        {
            Log.NotifyFailed(logger, e.Message);
        }
    }

    /// <inheritdoc />
    public Task StartAsync(CancellationToken cancellationToken)
    {
        if (_systemd is { IsEnabled: true } systemd && _interval is { } interval)
        {
            Log.WatchdogStarted(_logger, interval / 2);
            _timer = new Timer(_ => Send(systemd, "WATCHDOG=1", _logger), null, TimeSpan.Zero, interval / 2);
        }

        return Task.CompletedTask;
    }

    /// <inheritdoc />
    public Task StopAsync(CancellationToken cancellationToken)
    {
        _timer?.Dispose();
        _timer = null;
        return Task.CompletedTask;
    }

    /// <inheritdoc />
    public void Dispose() => _timer?.Dispose();
}
