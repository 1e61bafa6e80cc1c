using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using LoopOrder.Interop;

namespace LoopOrder.Service.Control;

/// <summary>The commands' side of the control socket: one request, one response.</summary>
public static class ControlClient
{
    /// <summary>True when a daemon accepts connections on <paramref name="socketPath"/>.</summary>
    /// <param name="socketPath">The control socket.</param>
    public static bool IsAnswering(string socketPath)
    {
        try
        {
            using Socket s = Connect(socketPath);
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
    }

    /// <summary>
    /// Sends <paramref name="request"/> and returns the response. No daemon: a
    /// <see cref="ServiceException"/> with exit code 69 that says how to start one; not root: 77.
    /// </summary>
    /// <param name="socketPath">The control socket.</param>
    /// <param name="request">The request.</param>
    public static ControlResponse Send(string socketPath, ControlRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        Socket socket;
        try
        {
            socket = Connect(socketPath);
        }
        catch (SocketException e)
        {
            throw ConnectFailure(socketPath, ErrnoOf(e), e);
        }

        using (socket)
        {
            using var stream = new NetworkStream(socket, ownsSocket: false);
            using var writer = new StreamWriter(stream, new UTF8Encoding(false)) { NewLine = "\n" };
            using var reader = new StreamReader(stream, Encoding.UTF8);
            writer.WriteLine(JsonSerializer.Serialize(request, ControlJson.Default.ControlRequest));
            writer.Flush();
            string line = reader.ReadLine()
                ?? throw new ServiceException(ExitCodes.OsError, $"the daemon on {socketPath} closed the connection without answering; see its log (journalctl -u loop-order).");
            return JsonSerializer.Deserialize(line, ControlJson.Default.ControlResponse)
                ?? throw new ServiceException(ExitCodes.OsError, "the daemon sent an empty response");
        }
    }

    /// <summary>
    /// Why a connection to the control socket failed, in plain words: .NET's own text for a Unix
    /// socket is misleading (ENOENT reads "Cannot assign requested address"), so the errno is
    /// named here. No socket, or one nobody listens on: 69 and how to start a daemon; not allowed: 77.
    /// </summary>
    /// <param name="socketPath">The control socket.</param>
    /// <param name="errno">connect(2)'s errno.</param>
    /// <param name="inner">The original exception, kept for the log.</param>
    internal static ServiceException ConnectFailure(string socketPath, Errno errno, Exception? inner = null)
    {
        const string Start = "start one: loop-order serve (as root; or: systemctl start loop-order)";
        return errno switch
        {
            Errno.ENOENT => new(ExitCodes.Unavailable, $"no loop-order daemon at {socketPath} (no such socket); {Start}.", inner),
            Errno.ECONNREFUSED => new(
                ExitCodes.Unavailable,
                $"no loop-order daemon at {socketPath} (the path is there but nobody listens: connection refused; a killed daemon leaves its socket behind); {Start}.",
                inner),
            Errno.EACCES or Errno.EPERM => new(
                ExitCodes.NoPermission,
                $"not allowed to talk to the loop-order daemon at {socketPath} (permission denied): its control socket is root's; run this with sudo.",
                inner),
            _ => new(ExitCodes.Unavailable, $"no loop-order daemon answers at {socketPath} ({errno.Describe()}); {Start}.", inner),
        };
    }

    /// <summary>
    /// connect(2)'s errno, as far as .NET keeps it: it maps the errno to a SocketError and
    /// NativeErrorCode back from that, so ENOENT arrives as AddressNotAvailable (EADDRNOTAVAIL,
    /// which connect(2) on a Unix socket path does not otherwise return).
    /// </summary>
    private static Errno ErrnoOf(SocketException e) => e.SocketErrorCode switch
    {
        SocketError.AddressNotAvailable => Errno.ENOENT,
        SocketError.ConnectionRefused => Errno.ECONNREFUSED,
        SocketError.AccessDenied => Errno.EACCES,
        _ => (Errno)e.NativeErrorCode,
    };

    private static Socket Connect(string socketPath)
    {
        var s = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        try
        {
            s.Connect(new UnixDomainSocketEndPoint(socketPath));
            return s;
        }
        catch
        {
            s.Dispose();
            throw;
        }
    }
}
