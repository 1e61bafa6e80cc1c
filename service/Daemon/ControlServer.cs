using System.Net.Sockets;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json;
using LoopOrder.Service.Control;
using Microsoft.Extensions.Logging;

namespace LoopOrder.Service.Daemon;

/// <summary>
/// The control socket: SOCK_STREAM, a Unix socket at &lt;runtime&gt;/control.sock, mode 0600 in a
/// 0700 directory, and each peer's uid checked (SO_PEERCRED) to be root or the daemon's own.
/// JSON lines: one request, one response, as many as the client sends.
/// </summary>
public sealed class ControlServer : IDisposable
{
    private const int SolSocket = 1;
    private const int SoPeerCred = 17;

    private readonly DeviceManager _devices;
    private readonly ILogger _logger;
    private readonly CancellationTokenSource _stop = new();
    private Socket? _listener;
    private Task? _accepting;

    /// <summary>A server for <paramref name="devices"/>.</summary>
    /// <param name="socketPath">Where to listen.</param>
    /// <param name="devices">What requests act on.</param>
    /// <param name="logger">The daemon's log.</param>
    public ControlServer(string socketPath, DeviceManager devices, ILogger logger)
    {
        SocketPath = socketPath;
        _devices = devices;
        _logger = logger;
    }

    /// <summary>The socket's path.</summary>
    public string SocketPath { get; }

    /// <summary>True once listening (false when another live daemon owns the socket).</summary>
    public bool Listening => _listener is not null;

    /// <summary>
    /// Binds and starts accepting. A socket file left by a daemon that died is replaced; one a
    /// live daemon answers on is left alone (returns false).
    /// </summary>
    public bool Start()
    {
        string? dir = Path.GetDirectoryName(SocketPath);
        if (dir is not null)
        {
            Directory.CreateDirectory(dir);
            File.SetUnixFileMode(dir, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        }

        if (File.Exists(SocketPath))
        {
            if (ControlClient.IsAnswering(SocketPath))
            {
                Log.SocketInUse(_logger, SocketPath);
                return false;
            }

            File.Delete(SocketPath);
        }

        var listener = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        try
        {
            // umask-independent: only root may connect.
            listener.Bind(new UnixDomainSocketEndPoint(SocketPath));
            File.SetUnixFileMode(SocketPath, UnixFileMode.UserRead | UnixFileMode.UserWrite);
            listener.Listen(16);
        }
        catch
        {
            listener.Dispose();
            throw;
        }

        _listener = listener;
        _accepting = Task.Run(AcceptLoop);
        Log.Listening(_logger, SocketPath);
        return true;
    }

    /// <summary>Stops accepting, closes the socket and removes its file; requests being answered finish.</summary>
    public void Stop()
    {
        if (_listener is null)
        {
            return;
        }

        _stop.Cancel();
        _listener.Dispose();
        try
        {
            _accepting?.Wait(TimeSpan.FromSeconds(5));
        }
        catch (AggregateException)
        {
            // The accept loop ends with the listener's disposal; its exception is expected.
        }

        _listener = null;
        try
        {
            // Usually gone already: .NET unlinks the path a disposed listener was bound to.
            File.Delete(SocketPath);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // Leaving the file is harmless: the next daemon replaces a socket nobody answers on.
        }
    }

    /// <inheritdoc />
    public void Dispose()
    {
        Stop();
        _stop.Dispose();
    }

    /// <summary>Answers one request; never throws.</summary>
    /// <param name="devices">What it acts on.</param>
    /// <param name="request">The request.</param>
    public static ControlResponse Handle(DeviceManager devices, ControlRequest request)
    {
        ArgumentNullException.ThrowIfNull(devices);
        ArgumentNullException.ThrowIfNull(request);
        try
        {
            return request.Op switch
            {
                ControlOp.Add => new ControlResponse { Devices = [devices.Add(request.Device ?? throw new ServiceException(ExitCodes.Usage, "add needs a device"))] },
                ControlOp.Del when request.All => new ControlResponse { Devices = request.Force ? devices.DeleteAll() : devices.DeleteAllUnused() },
                ControlOp.Del => new ControlResponse { Devices = [request.Force ? devices.Delete(RequireId(request)) : devices.DeleteUnused(RequireId(request))] },
                ControlOp.Resize => new ControlResponse { Devices = [devices.Resize(RequireId(request), request.Size ?? throw new ServiceException(ExitCodes.Usage, "resize needs a size"), request.AllowShrink)] },
                ControlOp.List => new ControlResponse { Devices = devices.List() },
                ControlOp.Stats => new ControlResponse { Stats = devices.Statistics(RequireId(request)) },
                ControlOp.Recover => new ControlResponse { Devices = [devices.Recover(RequireId(request))] },
                ControlOp.Snapshot => new ControlResponse { Snapshots = [devices.Snapshot(RequireId(request), RequireName(request), request.To, request.Kind)] },
                ControlOp.Backup => new ControlResponse { Backup = devices.Backup(RequireId(request), RequireName(request), request.To ?? throw new ServiceException(ExitCodes.Usage, "backup needs --to FILE"), request.Since) },
                ControlOp.SnapshotExport => new ControlResponse { Export = devices.ExportSnapshot(RequireId(request), RequireName(request), request.To ?? throw new ServiceException(ExitCodes.Usage, "snapshot export needs --to FILE")) },
                ControlOp.SnapshotList => new ControlResponse { Snapshots = devices.Snapshots(RequireId(request)) },
                ControlOp.SnapshotDelete => new ControlResponse { Snapshots = [devices.DeleteSnapshot(RequireId(request), RequireName(request))] },
                ControlOp.Changes => new ControlResponse { Extents = devices.Changes(RequireId(request), RequireName(request), request.Until) },
                _ => throw new ServiceException(ExitCodes.Usage, $"unknown request '{request.Op}'"),
            };
        }
        catch (Exception e)
        {
            return ControlResponse.Failed(ServiceErrors.From(e));
        }
    }

    /// <summary>
    /// Why <paramref name="line"/> is not a request: an op this daemon does not know (a newer
    /// client's, or a typo) is named as such; anything else is not a request at all.
    /// </summary>
    private static string NotARequest(string line, JsonException e)
    {
        try
        {
            using var doc = JsonDocument.Parse(line);
            if (doc.RootElement.ValueKind == JsonValueKind.Object
                && doc.RootElement.TryGetProperty("op", out JsonElement op)
                && op.ValueKind == JsonValueKind.String
                && !Enum.TryParse(op.GetString(), ignoreCase: true, out ControlOp _))
            {
                return $"unknown request '{op.GetString()}'; this daemon answers add, del, list, stats, recover, resize, snapshot, snapshot-list, snapshot-delete and changes";
            }
        }
        catch (JsonException)
        {
            // Not JSON at all: the deserializer's message says where.
        }

        return $"not a request: {e.Message}";
    }

    private static string RequireName(ControlRequest r) => r.Name ?? throw new ServiceException(ExitCodes.Usage, $"{r.Op} needs a snapshot name");

    private static uint RequireId(ControlRequest r) => r.Id ?? throw new ServiceException(ExitCodes.Usage, $"{r.Op} needs a device id");

    private async Task AcceptLoop()
    {
        while (!_stop.IsCancellationRequested)
        {
            Socket client;
            try
            {
                client = await _listener!.AcceptAsync(_stop.Token).ConfigureAwait(false);
            }
            catch (Exception e) when (e is OperationCanceledException or ObjectDisposedException or SocketException)
            {
                return;
            }

            _ = Task.Run(() => Serve(client));
        }
    }

    private async Task Serve(Socket client)
    {
        using (client)
        {
            try
            {
                uint uid = PeerUid(client);
                if (uid != 0 && uid != LoopOrder.Interop.Processes.EffectiveUserId)
                {
                    Log.PeerRefused(_logger, uid);
                    return;
                }

                await using var stream = new NetworkStream(client, ownsSocket: false);
                using var reader = new StreamReader(stream, Encoding.UTF8);
                await using var writer = new StreamWriter(stream, new UTF8Encoding(false)) { AutoFlush = true, NewLine = "\n" };
                while (await reader.ReadLineAsync(_stop.Token).ConfigureAwait(false) is { } line)
                {
                    ControlResponse response;
                    string op = "?";
                    try
                    {
                        ControlRequest request = JsonSerializer.Deserialize(line, ControlJson.Default.ControlRequest)
                            ?? throw new ServiceException(ExitCodes.Usage, "empty request");
                        op = request.Op.ToString();
                        response = Handle(_devices, request);
                    }
                    catch (JsonException e)
                    {
                        response = ControlResponse.Failed(new ServiceException(ExitCodes.Usage, NotARequest(line, e)));
                    }

                    Log.Request(_logger, op, response.ExitCode);
                    await writer.WriteLineAsync(JsonSerializer.Serialize(response, ControlJson.Default.ControlResponse)).ConfigureAwait(false);
                }
            }
            catch (Exception e) when (e is IOException or SocketException or OperationCanceledException)
            {
                Log.ConnectionFailed(_logger, e);
            }
        }
    }

    private static uint PeerUid(Socket socket)
    {
        // struct ucred { pid_t pid; uid_t uid; gid_t gid; }
        Span<byte> cred = stackalloc byte[12];
        int n = socket.GetRawSocketOption(SolSocket, SoPeerCred, cred);
        return n >= 8 ? MemoryMarshal.Read<uint>(cred[4..]) : uint.MaxValue;
    }
}
