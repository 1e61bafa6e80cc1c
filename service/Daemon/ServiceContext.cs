using LoopOrder.Service.Configuration;
using LoopOrder.Ublk.Control;
using Microsoft.Extensions.Hosting.Systemd;

namespace LoopOrder.Service.Daemon;

/// <summary>
/// Where the commands find the machine: the runtime directory, the configuration directory and
/// the kernel. Production uses <see cref="Default"/>; host tests point each part elsewhere.
/// </summary>
public sealed class ServiceContext
{
    /// <summary>The environment variable that overrides the runtime directory.</summary>
    public const string RuntimeDirectoryVariable = "LOOP_ORDER_RUNTIME_DIR";

    /// <summary>The system configuration directory.</summary>
    public const string DefaultConfigDirectory = "/etc/loop-order";

    /// <summary>/run/loop-order, or $LOOP_ORDER_RUNTIME_DIR; /etc/loop-order; the real ublk.</summary>
    public static ServiceContext Default => new();

    /// <summary>The runtime directory (control socket, device records); null: configuration, then $LOOP_ORDER_RUNTIME_DIR, then /run/loop-order.</summary>
    public string? RuntimeDirectory { get; init; } = Environment.GetEnvironmentVariable(RuntimeDirectoryVariable) is { Length: > 0 } d ? d : null;

    /// <summary>Read for appsettings.json besides the working directory; null reads none.</summary>
    public string? ConfigDirectory { get; init; } = DefaultConfigDirectory;

    /// <summary>Makes the device factory for a control device path.</summary>
    public Func<string, IDeviceFactory> Factory { get; init; } = path => new UblkDeviceFactory(path);

    /// <summary>The control device path.</summary>
    public string ControlPath { get; init; } = UblkControl.DefaultPath;

    /// <summary>
    /// Tests: the systemd notifier to use as if the daemon ran under systemd (null: the hosting
    /// library decides, and notifies only when systemd started this process).
    /// </summary>
    public ISystemdNotifier? SystemdNotifier { get; init; }

    /// <summary>Tests: the watchdog interval systemd asked for; null reads $WATCHDOG_USEC.</summary>
    public TimeSpan? WatchdogInterval { get; init; }

    /// <summary>Whether to read the working directory's appsettings.json (tests turn it off).</summary>
    public bool ReadWorkingDirectoryConfig { get; init; } = true;

    /// <summary>The runtime directory commands use (they have no configuration of their own).</summary>
    public string ClientRuntimeDirectory => RuntimeDirectory ?? DaemonOptions.DefaultRuntimeDirectory;

    /// <summary>The control socket commands connect to.</summary>
    public string ClientSocketPath => DaemonOptions.SocketPath(ClientRuntimeDirectory);
}
