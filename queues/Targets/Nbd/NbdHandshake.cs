using System.Buffers.Binary;
using System.Globalization;
using System.Net.Sockets;
using System.Text;

namespace LoopOrder.Queues.Targets.Nbd;

/// <summary>
/// The fixed newstyle handshake (proto.md "Fixed newstyle negotiation"): structured replies, then
/// NBD_OPT_GO asking for NBD_INFO_EXPORT and NBD_INFO_BLOCK_SIZE, falling back to
/// NBD_OPT_EXPORT_NAME only for a server that does not know GO. Runs once per connection, before
/// the transmission phase; it allocates freely.
/// </summary>
internal static class NbdHandshake
{
    /// <summary>Negotiates <paramref name="uri"/>'s export on a connected <paramref name="socket"/>.</summary>
    /// <param name="socket">A fresh connection to the server, blocking.</param>
    /// <param name="uri">The export, for its name and for messages.</param>
    /// <exception cref="NbdException">When the server is not a usable NBD server or refuses the export.</exception>
    public static NbdExportInfo Run(Socket socket, NbdUri uri)
    {
        try
        {
            return Negotiate(socket, uri);
        }
        catch (SocketException e)
        {
            string why = e.SocketErrorCode is SocketError.TimedOut or SocketError.WouldBlock
                ? "the server did not answer in time"
                : e.Message;
            throw new NbdException(NbdFailure.Protocol, uri.Text + ": handshake failed: " + why, e);
        }
    }

    private static NbdExportInfo Negotiate(Socket socket, NbdUri uri)
    {
        Span<byte> greeting = stackalloc byte[18];
        Receive(socket, uri, greeting[..16]);
        if (BinaryPrimitives.ReadUInt64BigEndian(greeting) != NbdWire.InitMagic)
        {
            throw new NbdException(NbdFailure.NotNbd, uri.Text + ": the server is not an NBD server (no NBDMAGIC greeting)");
        }

        ulong second = BinaryPrimitives.ReadUInt64BigEndian(greeting[8..]);
        if (second == NbdWire.OldstyleMagic)
        {
            throw new NbdException(NbdFailure.NotNbd, uri.Text + ": the server speaks only the oldstyle handshake, which has no export names; run it in newstyle mode");
        }

        if (second != NbdWire.OptionMagic)
        {
            throw new NbdException(NbdFailure.NotNbd, uri.Text + ": the server is not an NBD server (unknown handshake magic)");
        }

        Receive(socket, uri, greeting[16..18]);
        ushort handshakeFlags = BinaryPrimitives.ReadUInt16BigEndian(greeting[16..]);
        if ((handshakeFlags & NbdWire.FlagFixedNewstyle) == 0)
        {
            throw new NbdException(NbdFailure.NoFixedNewstyle, uri.Text + ": the server does not offer the fixed newstyle handshake (NBD_FLAG_FIXED_NEWSTYLE), which this client needs");
        }

        bool noZeroes = (handshakeFlags & NbdWire.FlagNoZeroes) != 0;
        Span<byte> clientFlags = stackalloc byte[4];
        BinaryPrimitives.WriteUInt32BigEndian(clientFlags, NbdWire.ClientFixedNewstyle | (noZeroes ? NbdWire.ClientNoZeroes : 0));
        NbdSocket.SendAll(socket, clientFlags);

        SendOption(socket, NbdWire.OptStructuredReply, []);
        (uint type, byte[] _) = ReceiveOptionReply(socket, uri, NbdWire.OptStructuredReply);
        bool structured = type switch
        {
            NbdWire.RepAck => true,
            // A server that does not know structured replies answers reads with simple replies; both are handled.
            NbdWire.RepErrUnsup or NbdWire.RepErrPolicy => false,
            _ when (type & NbdWire.RepErrorBit) != 0 => throw Refusal(uri, "NBD_OPT_STRUCTURED_REPLY", type, NbdFailure.Protocol),
            _ => throw Violation(uri, "unexpected reply " + type.ToString(CultureInfo.InvariantCulture) + " to NBD_OPT_STRUCTURED_REPLY"),
        };

        NbdExportInfo? info = Go(socket, uri, structured);
        return info ?? ExportName(socket, uri, noZeroes, structured);
    }

    /// <summary>NBD_OPT_GO; null when the server does not know the option (then the caller falls back).</summary>
    private static NbdExportInfo? Go(Socket socket, NbdUri uri, bool structured)
    {
        byte[] name = Encoding.UTF8.GetBytes(uri.ExportName);
        byte[] data = new byte[4 + name.Length + 2 + (2 * 2)];
        BinaryPrimitives.WriteUInt32BigEndian(data, (uint)name.Length);
        name.CopyTo(data, 4);
        Span<byte> requests = data.AsSpan(4 + name.Length);
        BinaryPrimitives.WriteUInt16BigEndian(requests, 2);
        BinaryPrimitives.WriteUInt16BigEndian(requests[2..], NbdWire.InfoExport);
        BinaryPrimitives.WriteUInt16BigEndian(requests[4..], NbdWire.InfoBlockSize);
        SendOption(socket, NbdWire.OptGo, data);

        long size = -1;
        var flags = NbdTransmissionFlags.None;
        uint minimum = 1, preferred = 4096, maximum = NbdWire.DefaultMaxPayload;
        bool blockSizeStated = false;
        while (true)
        {
            (uint type, byte[] payload) = ReceiveOptionReply(socket, uri, NbdWire.OptGo);
            switch (type)
            {
                case NbdWire.RepInfo:
                    if (payload.Length < 2)
                    {
                        throw Violation(uri, "NBD_REP_INFO shorter than its type");
                    }

                    ushort infoType = BinaryPrimitives.ReadUInt16BigEndian(payload);
                    if (infoType == NbdWire.InfoExport)
                    {
                        if (payload.Length != 12)
                        {
                            throw Violation(uri, "NBD_INFO_EXPORT of length " + payload.Length.ToString(CultureInfo.InvariantCulture) + ", not 12");
                        }

                        size = ToSize(uri, BinaryPrimitives.ReadUInt64BigEndian(payload.AsSpan(2)));
                        flags = (NbdTransmissionFlags)BinaryPrimitives.ReadUInt16BigEndian(payload.AsSpan(10));
                    }
                    else if (infoType == NbdWire.InfoBlockSize)
                    {
                        if (payload.Length != 14)
                        {
                            throw Violation(uri, "NBD_INFO_BLOCK_SIZE of length " + payload.Length.ToString(CultureInfo.InvariantCulture) + ", not 14");
                        }

                        minimum = BinaryPrimitives.ReadUInt32BigEndian(payload.AsSpan(2));
                        preferred = BinaryPrimitives.ReadUInt32BigEndian(payload.AsSpan(6));
                        maximum = BinaryPrimitives.ReadUInt32BigEndian(payload.AsSpan(10));
                        blockSizeStated = true;
                        CheckBlockSizes(uri, minimum, preferred, maximum);
                    }

                    // Other information (name, description) is not needed; the document says to ignore what is not understood.
                    break;
                case NbdWire.RepAck:
                    if (size < 0)
                    {
                        throw Violation(uri, "NBD_OPT_GO succeeded without NBD_INFO_EXPORT");
                    }

                    return new NbdExportInfo
                    {
                        Name = uri.ExportName,
                        Size = size,
                        Flags = flags,
                        MinimumBlockSize = minimum,
                        PreferredBlockSize = preferred,
                        MaximumPayload = maximum,
                        BlockSizeStated = blockSizeStated,
                        StructuredReplies = structured,
                        UsedGo = true,
                    };
                case NbdWire.RepErrUnsup:
                    return null;
                default:
                    if ((type & NbdWire.RepErrorBit) != 0)
                    {
                        throw Refusal(uri, "export '" + uri.ExportName + "'", type, NbdFailure.ExportRefused, payload);
                    }

                    throw Violation(uri, "unexpected reply " + type.ToString(CultureInfo.InvariantCulture) + " to NBD_OPT_GO");
            }
        }
    }

    /// <summary>The pre-GO way in: the server cannot refuse with a reason, only close the connection.</summary>
    private static NbdExportInfo ExportName(Socket socket, NbdUri uri, bool noZeroes, bool structured)
    {
        SendOption(socket, NbdWire.OptExportName, Encoding.UTF8.GetBytes(uri.ExportName));
        byte[] reply = new byte[10 + (noZeroes ? 0 : 124)];
        if (!NbdSocket.ReceiveAll(socket, reply))
        {
            throw new NbdException(NbdFailure.ExportRefused, uri.Text + ": the server closed the connection on export '" + uri.ExportName + "' (an old server's way to refuse a name)");
        }

        return new NbdExportInfo
        {
            Name = uri.ExportName,
            Size = ToSize(uri, BinaryPrimitives.ReadUInt64BigEndian(reply)),
            Flags = (NbdTransmissionFlags)BinaryPrimitives.ReadUInt16BigEndian(reply.AsSpan(8)),
            StructuredReplies = structured,
            UsedGo = false,
        };
    }

    private static void CheckBlockSizes(NbdUri uri, uint minimum, uint preferred, uint maximum)
    {
        // Limits from proto.md "Size constraints": powers of two, minimum at most 64 KiB, preferred
        // at least max(minimum, 512), maximum at least preferred.
        bool valid = minimum != 0 && uint.IsPow2(minimum) && minimum <= 65536
            && uint.IsPow2(preferred) && preferred >= Math.Max(minimum, 512u)
            && maximum >= preferred;
        if (!valid)
        {
            throw Violation(uri, string.Create(CultureInfo.InvariantCulture, $"block sizes minimum {minimum}, preferred {preferred}, maximum {maximum} break the protocol's rules"));
        }
    }

    private static long ToSize(NbdUri uri, ulong size) =>
        size <= long.MaxValue ? (long)size : throw Violation(uri, "export size " + size.ToString(CultureInfo.InvariantCulture) + " too large");

    private static void SendOption(Socket socket, uint option, ReadOnlySpan<byte> data)
    {
        byte[] message = new byte[16 + data.Length];
        BinaryPrimitives.WriteUInt64BigEndian(message, NbdWire.OptionMagic);
        BinaryPrimitives.WriteUInt32BigEndian(message.AsSpan(8), option);
        BinaryPrimitives.WriteUInt32BigEndian(message.AsSpan(12), (uint)data.Length);
        data.CopyTo(message.AsSpan(16));
        NbdSocket.SendAll(socket, message);
    }

    private static (uint Type, byte[] Payload) ReceiveOptionReply(Socket socket, NbdUri uri, uint option)
    {
        Span<byte> header = stackalloc byte[20];
        Receive(socket, uri, header);
        if (BinaryPrimitives.ReadUInt64BigEndian(header) != NbdWire.OptionReplyMagic)
        {
            throw Violation(uri, "bad option reply magic");
        }

        if (BinaryPrimitives.ReadUInt32BigEndian(header[8..]) != option)
        {
            throw Violation(uri, "option reply for another option");
        }

        uint type = BinaryPrimitives.ReadUInt32BigEndian(header[12..]);
        uint length = BinaryPrimitives.ReadUInt32BigEndian(header[16..]);
        if (length > NbdWire.MaxOptionReply)
        {
            throw Violation(uri, "option reply of " + length.ToString(CultureInfo.InvariantCulture) + " bytes");
        }

        byte[] payload = new byte[length];
        Receive(socket, uri, payload);
        return (type, payload);
    }

    private static void Receive(Socket socket, NbdUri uri, Span<byte> buffer)
    {
        if (!NbdSocket.ReceiveAll(socket, buffer))
        {
            throw new NbdException(NbdFailure.Protocol, uri.Text + ": the server closed the connection during the handshake");
        }
    }

    private static NbdException Refusal(NbdUri uri, string what, uint type, NbdFailure failure, byte[]? payload = null)
    {
        string name = type switch
        {
            NbdWire.RepErrUnknown => "no such export (NBD_REP_ERR_UNKNOWN)",
            NbdWire.RepErrPolicy => "not allowed by the server's policy (NBD_REP_ERR_POLICY)",
            NbdWire.RepErrInvalid => "invalid request (NBD_REP_ERR_INVALID)",
            NbdWire.RepErrPlatform => "not supported on the server's platform (NBD_REP_ERR_PLATFORM)",
            NbdWire.RepErrTlsReqd => "the server requires TLS, which this client does not support (NBD_REP_ERR_TLS_REQD)",
            NbdWire.RepErrShutdown => "the server is shutting down (NBD_REP_ERR_SHUTDOWN)",
            NbdWire.RepErrBlockSizeReqd => "the server requires block size negotiation (NBD_REP_ERR_BLOCK_SIZE_REQD)",
            NbdWire.RepErrTooBig => "request too big (NBD_REP_ERR_TOO_BIG)",
            NbdWire.RepErrUnsup => "not supported (NBD_REP_ERR_UNSUP)",
            _ => "error " + (type - NbdWire.RepErrorBit).ToString(CultureInfo.InvariantCulture),
        };

        // An error reply may carry a human-readable message.
        string detail = payload is { Length: > 0 and <= NbdWire.MaxString } ? ": " + SafeText(payload) : string.Empty;
        return new NbdException(failure, uri.Text + ": " + what + " refused by the server: " + name + detail) { OptionReply = type };
    }

    private static string SafeText(byte[] payload)
    {
        string text = Encoding.UTF8.GetString(payload);
        var clean = new StringBuilder(text.Length);
        foreach (char c in text)
        {
            clean.Append(char.IsControl(c) ? ' ' : c);
        }

        return clean.ToString().Trim();
    }

    private static NbdException Violation(NbdUri uri, string what) =>
        new(NbdFailure.Protocol, uri.Text + ": the server broke the NBD protocol: " + what);
}
