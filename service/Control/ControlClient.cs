using System.Net.Sockets;
using System.Text;
using System.Text.Json;

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
        catch (SocketException e) when (e.SocketErrorCode is SocketError.AccessDenied)
        {
            throw new ServiceException(ExitCodes.NoPermission, $"cannot connect to {socketPath}: permission denied; the daemon's control socket is root's: run with sudo.", e);
        }
        catch (SocketException e)
        {
            throw new ServiceException(
                ExitCodes.Unavailable,
                $"no loop-order daemon answers on {socketPath} ({e.Message}); start one: sudo loop-order serve (or: sudo systemctl start loop-order).",
                e);
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
