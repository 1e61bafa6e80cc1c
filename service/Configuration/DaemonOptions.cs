namespace LoopOrder.Service.Configuration;

/// <summary>The daemon's settings: the <c>LoopOrder</c> section of appsettings.json (the working directory's, then /etc/loop-order/'s).</summary>
public sealed class DaemonOptions
{
    /// <summary>The configuration section these options bind to.</summary>
    public const string Section = "LoopOrder";

    /// <summary>The runtime directory's default: /run/loop-order.</summary>
    public const string DefaultRuntimeDirectory = "/run/loop-order";

    /// <summary>
    /// Where the control socket (<c>control.sock</c>) and the device records (<c>devices/&lt;id&gt;.json</c>)
    /// live. Default /run/loop-order (also the LOOP_ORDER_RUNTIME_DIR environment variable).
    /// </summary>
    public string RuntimeDirectory { get; set; } = DefaultRuntimeDirectory;

    /// <summary>Devices to serve at start. Default none: the daemon waits for <c>loop-order add</c>.</summary>
    public List<DeviceOptions> Devices { get; set; } = [];

    /// <summary>
    /// How long a stop may take per device before its queues are aborted (the kernel's own flush
    /// of the disk happens inside it). Default 30 seconds.
    /// </summary>
    public TimeSpan DeviceStopTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>The control socket's path in <paramref name="runtimeDirectory"/>.</summary>
    /// <param name="runtimeDirectory">The runtime directory.</param>
    public static string SocketPath(string runtimeDirectory) => Path.Combine(runtimeDirectory, "control.sock");

    /// <summary>The device records' directory in <paramref name="runtimeDirectory"/>.</summary>
    /// <param name="runtimeDirectory">The runtime directory.</param>
    public static string DevicesDirectory(string runtimeDirectory) => Path.Combine(runtimeDirectory, "devices");
}
