using System.Net;
using System.Net.Sockets;

namespace LoopOrder.Queues.Targets.Nbd;

/// <summary>Opening the stream to an NBD server, and the exact reads and writes both phases use.</summary>
internal static class NbdSocket
{
    /// <summary>Connects to the server <paramref name="uri"/> names.</summary>
    /// <param name="uri">Where the server is.</param>
    /// <param name="timeout">How long a TCP connect may take before the server counts as unreachable.</param>
    /// <exception cref="NbdException">With <see cref="NbdFailure.Unreachable"/>.</exception>
    public static Socket Connect(NbdUri uri, TimeSpan timeout)
    {
        if (uri.SocketPath is { } path)
        {
            var unix = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
            try
            {
                unix.Connect(new UnixDomainSocketEndPoint(path));
                return unix;
            }
            catch (SocketException e)
            {
                unix.Dispose();
                throw Unreachable(uri, "socket " + path, e);
            }
        }

        IPAddress[] addresses;
        try
        {
            addresses = IPAddress.TryParse(uri.Host, out IPAddress? literal) ? [literal] : Dns.GetHostAddresses(uri.Host!);
        }
        catch (SocketException e)
        {
            throw Unreachable(uri, "host " + uri.Host, e);
        }

        SocketException? last = null;
        foreach (IPAddress address in addresses)
        {
            var tcp = new Socket(address.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
            try
            {
                using var cts = new CancellationTokenSource(timeout);
                tcp.ConnectAsync(new IPEndPoint(address, uri.Port), cts.Token).AsTask().GetAwaiter().GetResult();

                // Request headers are small and latency-bound; Nagle would hold them back behind an unacknowledged segment.
                tcp.NoDelay = true;
                return tcp;
            }
            catch (SocketException e)
            {
                tcp.Dispose();
                last = e;
            }
            catch (OperationCanceledException)
            {
                tcp.Dispose();
                last = new SocketException((int)SocketError.TimedOut);
            }
        }

        throw Unreachable(uri, uri.Host + ":" + uri.Port, last ?? new SocketException((int)SocketError.HostNotFound));
    }

    /// <summary>Sends all of <paramref name="data"/>; a blocking send may return after part of it.</summary>
    public static void SendAll(Socket socket, ReadOnlySpan<byte> data)
    {
        while (!data.IsEmpty)
        {
            int sent = socket.Send(data, SocketFlags.None);
            data = data[sent..];
        }
    }

    /// <summary>Fills <paramref name="buffer"/>; false when the peer closed the stream first.</summary>
    public static bool ReceiveAll(Socket socket, Span<byte> buffer)
    {
        while (!buffer.IsEmpty)
        {
            int got = socket.Receive(buffer, SocketFlags.None);
            if (got == 0)
            {
                return false;
            }

            buffer = buffer[got..];
        }

        return true;
    }

    private static NbdException Unreachable(NbdUri uri, string what, SocketException e)
    {
        string reason = e.SocketErrorCode switch
        {
            // .NET reports a connect's ENOENT (no socket file at the path) as AddressNotAvailable.
            SocketError.AddressNotAvailable when uri.IsUnix => "no such socket",
            SocketError.ConnectionRefused => "connection refused (nothing listens there)",
            SocketError.TimedOut => "timed out",
            SocketError.HostNotFound or SocketError.NoData or SocketError.TryAgain => "host not found",
            SocketError.NetworkUnreachable or SocketError.HostUnreachable => "no route to host",
            SocketError.AccessDenied => "permission denied",
            _ => e.Message,
        };
        return new NbdException(NbdFailure.Unreachable, uri.Text + ": cannot connect to " + what + ": " + reason, e);
    }
}
