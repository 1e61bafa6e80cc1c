using System.Globalization;
using System.Text;

namespace LoopOrder.Queues.Targets.Nbd;

/// <summary>
/// An NBD URI (NetworkBlockDevice/nbd doc/uri.md): <c>nbd://HOST[:PORT]/EXPORT</c> for TCP,
/// <c>nbd+unix:///EXPORT?socket=PATH</c> for a Unix socket. The export name is the path without
/// its first '/', percent-decoded; it may be empty (the server's default export).
/// </summary>
/// <remarks>
/// The TLS schemes (nbds, nbds+unix) are refused rather than silently downgraded: the document
/// requires a client that does not do TLS to say so. Query parameters other than <c>socket</c>
/// are refused (the document asks that unknown ones be diagnosed), except experimental
/// <c>x-</c> ones, which are ignored.
/// </remarks>
public sealed class NbdUri
{
    private NbdUri(string text, string exportName, string? host, int port, string? socketPath)
    {
        Text = text;
        ExportName = exportName;
        Host = host;
        Port = port;
        SocketPath = socketPath;
    }

    /// <summary>The URI as given.</summary>
    public string Text { get; }

    /// <summary>The export name sent to the server (may be empty).</summary>
    public string ExportName { get; }

    /// <summary>The TCP host (name or address, IPv6 without brackets); null for a Unix socket.</summary>
    public string? Host { get; }

    /// <summary>The TCP port (10809 unless given); 0 for a Unix socket.</summary>
    public int Port { get; }

    /// <summary>The Unix socket path (a leading NUL names an abstract socket); null for TCP.</summary>
    public string? SocketPath { get; }

    /// <summary>True for nbd+unix.</summary>
    public bool IsUnix => SocketPath is not null;

    /// <summary>Parses <paramref name="text"/>.</summary>
    /// <param name="text">The URI.</param>
    /// <exception cref="NbdException">With <see cref="NbdFailure.InvalidUri"/> and a message naming what is wrong.</exception>
    public static NbdUri Parse(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        int colon = text.IndexOf("://", StringComparison.Ordinal);
        if (colon <= 0)
        {
            throw Invalid(text, "expected nbd://HOST[:PORT]/EXPORT or nbd+unix:///EXPORT?socket=PATH");
        }

        string scheme = text[..colon].ToLowerInvariant();
        string rest = text[(colon + 3)..];
        bool unix = scheme switch
        {
            "nbd" => false,
            "nbd+unix" => true,
            "nbds" or "nbds+unix" => throw Invalid(text, "TLS (" + scheme + ") is not supported by this client"),
            _ => throw Invalid(text, "unknown scheme '" + scheme + "' (use nbd or nbd+unix)"),
        };

        if (rest.Contains('#', StringComparison.Ordinal))
        {
            throw Invalid(text, "a fragment ('#') has no meaning in an NBD URI");
        }

        string query = string.Empty;
        int q = rest.IndexOf('?', StringComparison.Ordinal);
        if (q >= 0)
        {
            query = rest[(q + 1)..];
            rest = rest[..q];
        }

        int slash = rest.IndexOf('/', StringComparison.Ordinal);
        string authority = slash < 0 ? rest : rest[..slash];
        string path = slash < 0 ? string.Empty : rest[(slash + 1)..];
        string exportName = Decode(text, path, "export name");
        if (exportName.Contains('\0', StringComparison.Ordinal))
        {
            throw Invalid(text, "the export name contains a NUL character");
        }

        if (Encoding.UTF8.GetByteCount(exportName) > NbdWire.MaxString)
        {
            throw Invalid(text, "the export name is longer than 4096 bytes");
        }

        string? socket = null;
        foreach (string pair in query.Split('&', StringSplitOptions.RemoveEmptyEntries))
        {
            int eq = pair.IndexOf('=', StringComparison.Ordinal);
            string key = Decode(text, eq < 0 ? pair : pair[..eq], "query key");
            string value = eq < 0 ? string.Empty : Decode(text, pair[(eq + 1)..], "query value");
            if (key == "socket")
            {
                if (socket is not null)
                {
                    throw Invalid(text, "'socket' is given twice");
                }

                socket = value;
            }
            else if (key.StartsWith("tls-", StringComparison.Ordinal))
            {
                throw Invalid(text, "'" + key + "': TLS is not supported by this client");
            }
            else if (!key.StartsWith("x-", StringComparison.Ordinal))
            {
                throw Invalid(text, "unknown query parameter '" + key + "'");
            }
        }

        if (unix)
        {
            if (authority.Length != 0)
            {
                throw Invalid(text, "nbd+unix takes no host ('" + authority + "'): write nbd+unix:///EXPORT?socket=PATH");
            }

            if (string.IsNullOrEmpty(socket))
            {
                throw Invalid(text, "nbd+unix needs ?socket=PATH");
            }

            return new NbdUri(text, exportName, null, 0, socket);
        }

        if (socket is not null)
        {
            throw Invalid(text, "'socket' belongs to nbd+unix, not nbd");
        }

        (string host, int port) = ParseAuthority(text, authority);
        return new NbdUri(text, exportName, host, port, null);
    }

    /// <inheritdoc />
    public override string ToString() => Text;

    private static (string Host, int Port) ParseAuthority(string text, string authority)
    {
        int at = authority.LastIndexOf('@');
        if (at >= 0)
        {
            // userinfo is for TLS authentication only, which this client does not do.
            throw Invalid(text, "a user name ('" + authority[..at] + "@') is only used with TLS, which this client does not support");
        }

        string host;
        string portText = string.Empty;
        if (authority.StartsWith('['))
        {
            int close = authority.IndexOf(']', StringComparison.Ordinal);
            if (close < 0)
            {
                throw Invalid(text, "unclosed '[' in the IPv6 address");
            }

            host = authority[1..close];
            string after = authority[(close + 1)..];
            if (after.Length > 0)
            {
                if (after[0] != ':')
                {
                    throw Invalid(text, "unexpected '" + after + "' after the IPv6 address");
                }

                portText = after[1..];
            }
        }
        else
        {
            int colon = authority.IndexOf(':', StringComparison.Ordinal);
            host = colon < 0 ? authority : authority[..colon];
            portText = colon < 0 ? string.Empty : authority[(colon + 1)..];
            if (portText.Contains(':', StringComparison.Ordinal))
            {
                throw Invalid(text, "an IPv6 address must be written in brackets: nbd://[::1]:10809/EXPORT");
            }
        }

        host = Decode(text, host, "host");
        if (host.Length == 0)
        {
            throw Invalid(text, "nbd:// needs a host: nbd://HOST[:PORT]/EXPORT (or use nbd+unix for a socket)");
        }

        int port = NbdWire.DefaultPort;
        if (portText.Length > 0
            && (!int.TryParse(portText, NumberStyles.None, CultureInfo.InvariantCulture, out port) || port is < 1 or > 65535))
        {
            throw Invalid(text, "port '" + portText + "' is not a number from 1 to 65535");
        }

        return (host, port);
    }

    private static string Decode(string text, string part, string what)
    {
        if (!part.Contains('%', StringComparison.Ordinal))
        {
            return part;
        }

        var bytes = new List<byte>(part.Length);
        for (int i = 0; i < part.Length; i++)
        {
            if (part[i] != '%')
            {
                // A whole run of literal characters at once, so surrogate pairs stay together.
                int next = part.IndexOf('%', i);
                int end = next < 0 ? part.Length : next;
                bytes.AddRange(Encoding.UTF8.GetBytes(part[i..end]));
                i = end - 1;
                continue;
            }

            if (i + 2 >= part.Length
                || !byte.TryParse(part.AsSpan(i + 1, 2), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out byte b))
            {
                throw Invalid(text, "bad percent-encoding in the " + what);
            }

            bytes.Add(b);
            i += 2;
        }

        try
        {
            return new UTF8Encoding(false, throwOnInvalidBytes: true).GetString(bytes.ToArray());
        }
        catch (DecoderFallbackException e)
        {
            throw new NbdException(NbdFailure.InvalidUri, text + ": the " + what + " is not UTF-8 after percent-decoding", e);
        }
    }

    private static NbdException Invalid(string text, string why) =>
        new(NbdFailure.InvalidUri, "'" + text + "' is not a usable NBD URI: " + why);
}
