using System.Globalization;
using System.Net.Sockets;
using System.Text;
using Microsoft.Extensions.Logging;

namespace LoopOrder.Service.Daemon;

/// <summary>
/// sd_notify(3), written here because the systemd hosting package is not served: datagrams like
/// "READY=1" to the socket named by $NOTIFY_SOCKET (a path, or an abstract name after '@').
/// Without $NOTIFY_SOCKET (not started by systemd) every call does nothing.
/// </summary>
public sealed class SystemdNotifier
{
    private readonly string? _socket;
    private readonly ILogger _logger;

    /// <summary>A notifier for $NOTIFY_SOCKET (or <paramref name="socketPath"/>, for tests).</summary>
    /// <param name="logger">Where a failed notification is reported.</param>
    /// <param name="socketPath">Overrides $NOTIFY_SOCKET.</param>
    public SystemdNotifier(ILogger logger, string? socketPath = null)
    {
        _logger = logger;
        _socket = socketPath ?? Environment.GetEnvironmentVariable("NOTIFY_SOCKET");
    }

    /// <summary>True when systemd listens.</summary>
    public bool Enabled => !string.IsNullOrEmpty(_socket);

    /// <summary>
    /// The watchdog interval systemd asked for ($WATCHDOG_USEC, when $WATCHDOG_PID is absent or
    /// this process), or null.
    /// </summary>
    public static TimeSpan? WatchdogInterval()
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

    /// <summary>Sends one state ("READY=1", "STOPPING=1", "WATCHDOG=1", "STATUS=…"); returns whether it was sent.</summary>
    /// <param name="state">Newline-separated assignments.</param>
    public bool Notify(string state)
    {
        if (!Enabled)
        {
            return false;
        }

        string name = _socket![0] == '@' ? "\0" + _socket[1..] : _socket;
        try
        {
            using var socket = new Socket(AddressFamily.Unix, SocketType.Dgram, ProtocolType.Unspecified);
            socket.Connect(new UnixDomainSocketEndPoint(name));
            socket.Send(Encoding.UTF8.GetBytes(state));
            Log.Notified(_logger, state);
            return true;
        }
        catch (SocketException e)
        {
            Log.NotifyFailed(_logger, _socket, e.Message);
            return false;
        }
    }
}
