using LoopOrder.Interop;
using LoopOrder.Queues.Backends;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace LoopOrder.Queues.Targets.Nbd;

/// <summary>
/// An NBD export as a device's storage: the engine's requests over an <see cref="NbdConnectionSet"/>,
/// each worker thread with its own <see cref="NbdExecutor"/>, and a supervisor thread that
/// reconnects dropped connections.
/// </summary>
/// <remarks>
/// <para>Flush. The Sequencer hands a flush over only after every write received before it has
/// completed (drain, strict); the set then flushes once (CAN_MULTI_CONN) or every connection that
/// carried a write since its last flush.</para>
/// <para>Latched errors, as for a file's fdatasync: once a flush fails, a FUA write fails, or a
/// connection drops while it carried writes no flush had covered (<see cref="NbdConnectionSet.CoverageLost"/>),
/// every later flush fails with EIO until the device is deleted. A dropped connection fails what
/// it carried with EIO (the Sequencer latches failed writes itself).</para>
/// <para>Faults. A dropped connection is retried with backoff; new requests go to the live ones
/// meanwhile (EIO when none is). A connection that cannot be reopened within
/// <see cref="NbdBackendOptions.ReconnectGiveUp"/> means the server is gone for good: the
/// device fails closed (every request EIO, one critical log) until it is deleted.</para>
/// </remarks>
public sealed partial class NbdBackend : IBackend
{
    private readonly NbdBackendOptions _options;
    private readonly ILogger _logger;
    private readonly Thread _supervisor;
    private readonly object _stop = new();
    private bool _stopping;
    private int _flushLatched;
    private int _failedClosed;
    private long _reconnects;

    private NbdBackend(NbdBackendOptions options, NbdConnectionSet set)
    {
        _options = options;
        _logger = options.Logger ?? NullLogger.Instance;
        Set = set;
        long size = options.Size ?? set.Export.Size;
        Length = size / 512 * 512;
        IsReadOnly = options.ReadOnly || set.Export.IsReadOnly;
        _supervisor = new Thread(Supervise) { IsBackground = true, Name = "nbd-supervisor" };
        _supervisor.Start();
    }

    /// <summary>The connections.</summary>
    public NbdConnectionSet Set { get; }

    /// <summary>What the handshake learned.</summary>
    public NbdExportInfo Export => Set.Export;

    /// <inheritdoc />
    public long Length { get; }

    /// <inheritdoc />
    public bool IsReadOnly { get; }

    /// <summary>True once a flush can no longer be true (see the remarks): every later flush fails with EIO.</summary>
    public bool FlushLatched => Volatile.Read(ref _flushLatched) != 0 || Set.CoverageLost;

    /// <summary>True once the server counted as gone for good: every request fails with EIO.</summary>
    public bool FailedClosed => Volatile.Read(ref _failedClosed) != 0;

    /// <summary>Connections reopened after a drop.</summary>
    public long Reconnects => Interlocked.Read(ref _reconnects);

    /// <summary>Opens the connections.</summary>
    /// <param name="options">What to open.</param>
    /// <exception cref="NbdException">The server is unreachable, refuses the export, or is not usable.</exception>
    /// <exception cref="ArgumentException">The export is smaller than <see cref="NbdBackendOptions.Size"/>.</exception>
    public static NbdBackend Open(NbdBackendOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        NbdConnectionSet set = NbdConnectionSet.Open(options.Uri, options.Connections, options.Connection, options.Mutant);
        if (options.Size is { } size && size > set.Export.Size)
        {
            set.Dispose();
            throw new ArgumentException($"{options.Uri.Text}: the export holds {set.Export.Size} bytes, less than the {size} asked for");
        }

        return new NbdBackend(options, set);
    }

    /// <inheritdoc />
    public IBackendExecutor CreateExecutor(IBackendCompletion completion) => new NbdExecutor(this, completion);

    /// <summary>Stops the supervisor and closes every connection cleanly.</summary>
    public void Dispose()
    {
        lock (_stop)
        {
            if (_stopping)
            {
                return;
            }

            _stopping = true;
            Monitor.PulseAll(_stop);
        }

        _supervisor.Join();
        Set.Dispose();
    }

    /// <summary>A flush or a FUA write failed: no later flush can promise what it should have.</summary>
    internal void LatchFlush()
    {
        if (Interlocked.Exchange(ref _flushLatched, 1) == 0)
        {
            FlushFailed(_logger, Name, _options.Uri.Text);
        }
    }

    private string Name => _options.DeviceName?.Invoke() ?? "nbd";

    /// <summary>Reconnects dropped connections with backoff; fails the device closed when one stays down too long.</summary>
    private void Supervise()
    {
        int n = Set.Count;
        long[] downSince = new long[n];
        long[] nextTry = new long[n];
        long[] delay = new long[n];
        long first = (long)_options.ReconnectFirstDelay.TotalMilliseconds;
        long max = Math.Max(first, (long)_options.ReconnectMaxDelay.TotalMilliseconds);
        long giveUp = (long)_options.ReconnectGiveUp.TotalMilliseconds;
        while (!FailedClosed)
        {
            lock (_stop)
            {
                // Drops are noticed within this period; a reconnection needs no faster reaction.
                if (_stopping || Monitor.Wait(_stop, 50) || _stopping)
                {
                    return;
                }
            }

            long now = Environment.TickCount64;
            for (int i = 0; i < n && !FailedClosed; i++)
            {
                if (Set[i].IsConnected)
                {
                    downSince[i] = 0;
                    continue;
                }

                if (downSince[i] == 0)
                {
                    downSince[i] = now;
                    delay[i] = first;
                    nextTry[i] = now + first;
                    ConnectionDropped(_logger, Name, i, _options.Uri.Text);
                    continue;
                }

                if (now < nextTry[i])
                {
                    continue;
                }

                try
                {
                    if (Set.Reconnect(i))
                    {
                        CoverageLost(_logger, Name, i, _options.Uri.Text);
                    }

                    Interlocked.Increment(ref _reconnects);
                    Reconnected(_logger, Name, i, _options.Uri.Text, Environment.TickCount64 - downSince[i]);
                    downSince[i] = 0;
                }
                catch (NbdException e)
                {
                    if (Environment.TickCount64 - downSince[i] >= giveUp)
                    {
                        FailClosed(i, e);
                        return;
                    }

                    delay[i] = Math.Min(max, delay[i] * 2);
                    nextTry[i] = Environment.TickCount64 + delay[i];
                }
            }
        }
    }

    private void FailClosed(int index, NbdException cause)
    {
        // Logged first: whoever sees the device closed can find why.
        ServerGone(_logger, cause, Name, _options.Uri.Text, index, _options.ReconnectGiveUp.TotalSeconds, cause.Message);
        Volatile.Write(ref _failedClosed, 1);

        // What is still in flight on the live connections fails too: the device is closed, not half open.
        for (int i = 0; i < Set.Count; i++)
        {
            Set[i].Abort();
        }
    }

    [LoggerMessage(EventId = 220, Level = LogLevel.Warning, Message = "{Device}: NBD connection {Index} to {Uri} dropped; what it carried failed with EIO; reconnecting")]
    private static partial void ConnectionDropped(ILogger logger, string device, int index, string uri);

    [LoggerMessage(EventId = 221, Level = LogLevel.Information, Message = "{Device}: NBD connection {Index} to {Uri} reconnected after {Milliseconds} ms")]
    private static partial void Reconnected(ILogger logger, string device, int index, string uri, long milliseconds);

    [LoggerMessage(EventId = 222, Level = LogLevel.Error, Message = "{Device}: NBD connection {Index} to {Uri} dropped while it carried writes no flush had covered; they may be lost, so every later flush fails with EIO until the device is deleted")]
    private static partial void CoverageLost(ILogger logger, string device, int index, string uri);

    [LoggerMessage(EventId = 223, Level = LogLevel.Error, Message = "{Device}: a flush (or FUA write) failed on {Uri}; every later flush fails with EIO until the device is deleted")]
    private static partial void FlushFailed(ILogger logger, string device, string uri);

    [LoggerMessage(EventId = 224, Level = LogLevel.Critical, Message = "{Device}: the NBD server {Uri} is gone: connection {Index} could not be reopened within {Seconds} s ({Reason}); every request now fails with EIO. Delete the device (loop-order del) and add it again once the server is back")]
    private static partial void ServerGone(ILogger logger, Exception e, string device, string uri, int index, double seconds, string reason);
}
