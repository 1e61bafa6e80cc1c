using System.Globalization;
using LoopOrder.Queues.Dispatch;
using LoopOrder.Queues.Ordering;

namespace LoopOrder.Queues.Targets.Nbd;

/// <summary>
/// An NBD export (<c>--target nbd --nbd nbd+unix:///EXPORT?socket=PATH</c> or
/// <c>nbd://HOST[:PORT]/EXPORT</c>) over <c>--connections N</c> connections
/// (<see cref="NbdBackend"/>). The export outlives the daemon: a device is added with
/// USER_RECOVERY and a restarted daemon reconnects from its record (the URI, and the connection
/// count when one was given).
/// </summary>
/// <remarks>
/// <para>Default connection count: with NBD_FLAG_CAN_MULTI_CONN, one per NUMA node (the engine's
/// channels), at least 2; without it, 1. A server that does not promise multi-conn may refuse a
/// second client (qemu-nbd's default --shared=1) and makes every flush go to each connection that
/// carried a write; <c>--connections N</c> spreads over N anyway, and the flush then covers all.</para>
/// <para>An export without FLUSH is refused under drain and strict ordering (nothing could make
/// a flush's promise true); <c>--ordering none</c> serves it.</para>
/// </remarks>
public sealed class NbdTarget : ITarget
{
    /// <summary>The target's name.</summary>
    public const string TargetName = "nbd";

    /// <summary>The export's URI.</summary>
    public const string UriOption = "nbd";

    /// <summary>How many connections.</summary>
    public const string ConnectionsOption = "connections";

    /// <summary>The most connections one device opens.</summary>
    public const int MaxConnections = 64;

    /// <inheritdoc />
    public string Name => TargetName;

    /// <inheritdoc />
    public string Summary => "an NBD export (--nbd URI) over one or more connections; survives a daemon restart";

    /// <inheritdoc />
    public IReadOnlyList<TargetOption> Options { get; } =
    [
        new(UriOption, "The export, as an NBD URI: nbd://HOST[:PORT]/EXPORT (TCP, port 10809 by default) or nbd+unix:///EXPORT?socket=/ABSOLUTE/PATH. Required with --target nbd; no default."),
        new(ConnectionsOption, $"Connections to the export, 1 to {MaxConnections}. Default: when the server states multi-conn, one per NUMA node and at least 2; otherwise 1."),
    ];

    /// <inheritdoc />
    public TargetCapabilities Capabilities =>
        TargetCapabilities.NeedsFlush | TargetCapabilities.Discard | TargetCapabilities.Persistent | TargetCapabilities.ReadOnly;

    /// <inheritdoc />
    public string? Problem(TargetRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        string? text = request.Value(UriOption);
        if (string.IsNullOrWhiteSpace(text))
        {
            return "--nbd is required with --target nbd: the export, e.g. nbd+unix:///disk?socket=/run/nbd.sock or nbd://127.0.0.1:10809/disk.";
        }

        NbdUri uri;
        try
        {
            uri = NbdUri.Parse(text);
        }
        catch (NbdException e)
        {
            return "--nbd: " + e.Message;
        }

        if (uri.SocketPath is { } socket && socket[0] != '\0' && !Path.IsPathRooted(socket))
        {
            return $"--nbd: socket={socket} must be an absolute path (the daemon does not run in this directory).";
        }

        if (request.Value(ConnectionsOption) is { } c && ParseConnections(c) is null)
        {
            return $"--connections: '{c}' is not a number from 1 to {MaxConnections}.";
        }

        return null;
    }

    /// <inheritdoc />
    public IReadOnlyDictionary<string, string> Normalise(IReadOnlyDictionary<string, string> values)
    {
        ArgumentNullException.ThrowIfNull(values);
        var n = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase) { [UriOption] = values[UriOption].Trim() };
        if (values.TryGetValue(ConnectionsOption, out string? c) && ParseConnections(c) is { } count)
        {
            n[ConnectionsOption] = count.ToString(CultureInfo.InvariantCulture);
        }

        return n;
    }

    /// <inheritdoc />
    public string Describe(IReadOnlyDictionary<string, string> values) =>
        values is not null && values.TryGetValue(UriOption, out string? u) ? u : "(no export)";

    /// <inheritdoc />
    public bool SameStorage(IReadOnlyDictionary<string, string> a, IReadOnlyDictionary<string, string> b)
    {
        ArgumentNullException.ThrowIfNull(a);
        ArgumentNullException.ThrowIfNull(b);
        try
        {
            NbdUri x = NbdUri.Parse(a[UriOption]);
            NbdUri y = NbdUri.Parse(b[UriOption]);
            return x.ExportName == y.ExportName && x.Port == y.Port
                && string.Equals(x.Host, y.Host, StringComparison.OrdinalIgnoreCase)
                && string.Equals(x.SocketPath, y.SocketPath, StringComparison.Ordinal);
        }
        catch (NbdException)
        {
            return false;
        }
    }

    /// <inheritdoc />
    public string? InitialImage(TargetRequest request) => null;

    /// <inheritdoc />
    public OpenedTarget Open(TargetRequest request, TargetContext context)
    {
        ArgumentNullException.ThrowIfNull(request);
        ArgumentNullException.ThrowIfNull(context);
        NbdUri uri = NbdUri.Parse(request.Value(UriOption)!);
        int? asked = request.Value(ConnectionsOption) is { } c ? ParseConnections(c) : null;
        int connections = asked ?? Probe(uri);
        NbdBackend backend;
        try
        {
            backend = NbdBackend.Open(new NbdBackendOptions
            {
                Uri = uri,
                Connections = connections,
                Size = request.Size,
                ReadOnly = request.ReadOnly,
                Logger = context.Logger,
                DeviceName = context.BlockDevice,
            });
        }
        catch (NbdException e)
        {
            throw Refusal(e);
        }
        catch (ArgumentException e)
        {
            throw new TargetException(TargetFailure.Usage, e.Message + "; give a smaller --size, or none to serve the whole export.", e);
        }

        try
        {
            NbdExportInfo export = backend.Export;
            if (!export.CanFlush && request.Ordering != OrderingMode.None)
            {
                throw new TargetException(TargetFailure.Usage, $"{uri.Text}: the server does not take NBD_CMD_FLUSH (no NBD_FLAG_SEND_FLUSH), so nothing can make a flush's --ordering {request.Ordering.ToString().ToLowerInvariant()} promise true; serve it with --ordering none, or use a server that flushes.");
            }

            if (export.IsReadOnly && !request.ReadOnly)
            {
                throw new TargetException(TargetFailure.Usage, $"{uri.Text}: the export is read-only; give --read-only.");
            }

            if (backend.Length < request.BlockSize)
            {
                throw new TargetException(TargetFailure.Usage, $"{uri.Text}: the export holds {export.Size} bytes, less than one {request.BlockSize}-byte block.");
            }

            if (export.MinimumBlockSize > request.BlockSize)
            {
                throw new TargetException(TargetFailure.Usage, $"{uri.Text}: the server's minimum block size is {export.MinimumBlockSize} bytes, more than --block-size {request.BlockSize}; give --block-size 4096 (a server needing more cannot be served).");
            }
        }
        catch
        {
            backend.Dispose();
            throw;
        }

        return new OpenedTarget(backend);
    }

    /// <summary>The default connection count (see the remarks), from one connection's look at the export.</summary>
    private static int Probe(NbdUri uri)
    {
        try
        {
            using NbdConnection probe = NbdConnection.Open(uri);
            return probe.Export.CanMultiConn ? Math.Clamp(NumaTopology.Read().NodeCount, 2, MaxConnections) : 1;
        }
        catch (NbdException e)
        {
            throw Refusal(e);
        }
    }

    private static TargetException Refusal(NbdException e) => e.Failure switch
    {
        NbdFailure.InvalidUri => new TargetException(TargetFailure.Usage, "--nbd: " + e.Message, e),
        NbdFailure.ExportRefused => new TargetException(TargetFailure.NoInput, e.Message + "; check the export name (nbdinfo --list shows what the server offers).", e),
        NbdFailure.Unreachable => new TargetException(TargetFailure.Unavailable, e.Message + "; is the NBD server running?", e),
        _ => new TargetException(TargetFailure.Unavailable, e.Message, e),
    };

    private static int? ParseConnections(string text) =>
        int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out int n) && n is >= 1 and <= MaxConnections ? n : null;
}
