using System.Globalization;
using LoopOrder.Interop;

namespace LoopOrder.Queues.Targets.Nbd;

/// <summary>
/// N connections to one export, and the flush that covers writes sent on any of them.
/// </summary>
/// <remarks>
/// <para>The caller hands a flush over only after every write it must cover has completed (the
/// engine's Sequencer does this for drain and strict ordering). The set then sends:</para>
/// <list type="bullet">
/// <item>when the server states NBD_FLAG_CAN_MULTI_CONN, one NBD_CMD_FLUSH on one live
///   connection: the server promises that it covers writes completed on every connection;</item>
/// <item>otherwise an NBD_CMD_FLUSH on every connection that carried a write since its last flush
///   (<see cref="NbdDirtyTracker"/>), all of which must succeed.</item>
/// </list>
/// <para>Either way no flush goes out when no connection carried a write since the last one, and
/// a failed flush leaves its connections dirty for the next. A server that states CAN_MULTI_CONN
/// but keeps a cache per connection is outside this promise.</para>
/// <para>FUA is per command and handled by the connection that carries it (the FUA flag, or the
/// write followed by a flush of that connection).</para>
/// <para>Reconnection. A connection that dropped is replaced in place by <see cref="Reconnect"/>
/// (the caller decides when; <see cref="NbdBackend"/> retries with backoff). If it dropped while
/// dirty (a write acknowledged or sent on it since its last flush), what it carried may have
/// been lost with the server's per-connection cache: the set's coverage is lost for good and
/// every later flush fails with EIO (<see cref="CoverageLost"/>), as a file's failed fdatasync
/// latches.</para>
/// </remarks>
public sealed class NbdConnectionSet : IDisposable
{
    private readonly NbdConnection[] _connections;
    private readonly NbdUri _uri;
    private readonly NbdConnectionOptions _options;
    private readonly NbdDirtyTracker _dirty;
    private readonly FlushFan[] _fans;
    private readonly Stack<FlushFan> _freeFans;
    private int _next;
    private int _flushes;
    private int _flushesSkipped;
    private int _coverageLost;

    private NbdConnectionSet(NbdUri uri, NbdConnectionOptions options, NbdConnection[] connections, NbdDirtyTracker dirty, int maxFlushes)
    {
        _uri = uri;
        _options = options;
        _connections = connections;
        _dirty = dirty;
        _fans = new FlushFan[maxFlushes];
        _freeFans = new Stack<FlushFan>(maxFlushes);
        for (int i = 0; i < maxFlushes; i++)
        {
            _fans[i] = new FlushFan(this, connections.Length);
            _freeFans.Push(_fans[i]);
        }
    }

    /// <summary>What the handshake learned (the same on every connection).</summary>
    public NbdExportInfo Export => _connections[0].Export;

    /// <summary>Number of connections.</summary>
    public int Count => _connections.Length;

    /// <summary>Which connections carried a write since their last flush.</summary>
    public NbdDirtyTracker Dirty => _dirty;

    /// <summary>Set flushes completed with nothing to send, because no connection carried a write since the last one.</summary>
    public int FlushesSkipped => Volatile.Read(ref _flushesSkipped);

    /// <summary>Set flushes handed over.</summary>
    public int Flushes => Volatile.Read(ref _flushes);

    /// <summary>Connection <paramref name="index"/> (a reconnected one replaces its predecessor here).</summary>
    /// <param name="index">0 to <see cref="Count"/> - 1.</param>
    public NbdConnection this[int index] => Volatile.Read(ref _connections[index]);

    /// <summary>
    /// True once a connection dropped while it carried writes no flush had covered, and was
    /// replaced: those writes may be gone, so every later <see cref="Flush"/> fails with EIO.
    /// </summary>
    public bool CoverageLost => Volatile.Read(ref _coverageLost) != 0;

    /// <summary>
    /// A deliberate breakage for the weak-server test (see LoopOrder.Verification's NbdMutants);
    /// null, the set as designed, everywhere else.
    /// </summary>
    public INbdSetMutant? Mutant { get; init; }

    /// <summary>Whether any connection is up.</summary>
    public bool AnyConnected
    {
        get
        {
            for (int i = 0; i < _connections.Length; i++)
            {
                if (this[i].IsConnected)
                {
                    return true;
                }
            }

            return false;
        }
    }

    /// <summary>Opens <paramref name="connections"/> connections to <paramref name="uri"/>'s export.</summary>
    /// <param name="uri">The export.</param>
    /// <param name="connections">How many (at least 1).</param>
    /// <param name="options">Tuning of each connection; null for the defaults.</param>
    /// <exception cref="NbdException">Any connection fails to open, or the connections disagree about the export.</exception>
    public static NbdConnectionSet Open(NbdUri uri, int connections, NbdConnectionOptions? options = null) =>
        Open(uri, connections, options, mutant: null);

    /// <summary>Opens the set with a deliberate breakage (tests only; see <see cref="Mutant"/>).</summary>
    /// <param name="uri">The export.</param>
    /// <param name="connections">How many (at least 1).</param>
    /// <param name="options">Tuning of each connection; null for the defaults.</param>
    /// <param name="mutant">The breakage, or null.</param>
    public static NbdConnectionSet Open(NbdUri uri, int connections, NbdConnectionOptions? options, INbdSetMutant? mutant)
    {
        ArgumentNullException.ThrowIfNull(uri);
        ArgumentOutOfRangeException.ThrowIfLessThan(connections, 1);
        options ??= new NbdConnectionOptions();
        var dirty = new NbdDirtyTracker(connections);
        var opened = new List<NbdConnection>(connections);
        try
        {
            for (int i = 0; i < connections; i++)
            {
                NbdConnection c = NbdConnection.Open(uri, options, dirty, i);
                opened.Add(c);
                CheckSame(uri, i, opened[0].Export, c.Export);
            }
        }
        catch
        {
            foreach (NbdConnection c in opened)
            {
                c.Dispose();
            }

            throw;
        }

        // Enough fans that every slot of every connection could be a flush's: a flush never waits for a fan.
        return new NbdConnectionSet(uri, options, [.. opened], dirty, options.MaxInFlight * connections) { Mutant = mutant };
    }

    /// <summary>
    /// Replaces connection <paramref name="index"/>, which must have dropped, with a fresh one to
    /// the same export. If the old one was dirty, <see cref="CoverageLost"/> becomes true (see the
    /// class remarks). Returns true when this reconnection lost coverage.
    /// </summary>
    /// <param name="index">The connection.</param>
    /// <exception cref="NbdException">The server cannot be reached or refuses, or now serves a different export.</exception>
    /// <exception cref="InvalidOperationException">The connection is still up.</exception>
    public bool Reconnect(int index)
    {
        NbdConnection old = this[index];
        if (old.IsConnected)
        {
            throw new InvalidOperationException("connection " + index.ToString(CultureInfo.InvariantCulture) + " is still up");
        }

        NbdConnection fresh = NbdConnection.Open(_uri, _options, _dirty, index);
        try
        {
            CheckSame(_uri, index, Export, fresh.Export);
        }
        catch
        {
            fresh.Dispose();
            throw;
        }

        // The old connection marked what it carried before it was seen dead (NbdConnection.FailAll);
        // a flush that took a mark and failed on it fails its caller, who latches that.
        bool lost = _dirty.IsDirty(index);
        if (lost)
        {
            Volatile.Write(ref _coverageLost, 1);
        }

        Volatile.Write(ref _connections[index], fresh);
        old.Dispose();
        return lost;
    }

    /// <summary>
    /// Sends a read, write, trim or write-zeroes on connection <paramref name="connection"/>, or
    /// hands a flush to <see cref="Flush"/> (whatever the connection). See <see cref="NbdConnection.Submit"/>.
    /// </summary>
    /// <param name="connection">Index of the connection to carry it; -1 to take turns.</param>
    /// <param name="command">The command.</param>
    /// <param name="flags">Its flags.</param>
    /// <param name="offset">Byte offset.</param>
    /// <param name="length">Byte count.</param>
    /// <param name="buffer">Data, for reads and writes.</param>
    /// <param name="completion">Where the result goes.</param>
    /// <param name="state">Passed back to <paramref name="completion"/>.</param>
    public void Submit(int connection, NbdCommand command, NbdCommandFlags flags, long offset, int length, nint buffer, INbdCompletion completion, object? state)
    {
        if (command == NbdCommand.Flush)
        {
            Flush(completion, state);
            return;
        }

        NbdConnection? carrier = connection < 0 ? PickLive() ?? this[0] : this[connection];

        // A dead carrier fails it with EIO.
        carrier.Submit(command, flags, offset, length, buffer, completion, state);
    }

    /// <summary>
    /// Makes every write completed before this call durable (see the class remarks). Completes
    /// with 0, or the first error of the flushes sent (EIO for a dirty connection that dropped),
    /// or EOPNOTSUPP when the server takes no flush.
    /// </summary>
    /// <param name="completion">Where the result goes.</param>
    /// <param name="state">Passed back to <paramref name="completion"/>.</param>
    public void Flush(INbdCompletion completion, object? state)
    {
        ArgumentNullException.ThrowIfNull(completion);
        Interlocked.Increment(ref _flushes);
        if (CoverageLost)
        {
            completion.Completed(state, NbdErrors.ConnectionLost.ToResult());
            return;
        }

        if (!Export.CanFlush)
        {
            completion.Completed(state, Errno.EOPNOTSUPP.ToResult());
            return;
        }

        FlushFan fan;
        lock (_freeFans)
        {
            while (_freeFans.Count == 0)
            {
                Monitor.Wait(_freeFans);
            }

            fan = _freeFans.Pop();
        }

        int dirty = _dirty.Take(fan.Taken);
        if (dirty == 0)
        {
            Interlocked.Increment(ref _flushesSkipped);
            Return(fan);
            completion.Completed(state, 0);
            return;
        }

        fan.Completion = completion;
        fan.State = state;
        fan.Error = 0;

        // One count per flush sent, plus one for this thread, so the fan cannot finish while flushes are still going out.
        if (Export.CanMultiConn || Mutant?.ShouldFlushOneConnection() == true)
        {
            NbdConnection? live = PickLive();
            fan.Pending = 2;
            if (live is null)
            {
                fan.Completed(null, NbdErrors.ConnectionLost.ToResult());
            }
            else
            {
                live.Submit(NbdCommand.Flush, NbdCommandFlags.None, 0, 0, 0, fan, live);
            }
        }
        else
        {
            fan.Pending = dirty + 1;
            for (int i = 0; i < _connections.Length; i++)
            {
                if (fan.Taken[i])
                {
                    NbdConnection c = this[i];
                    c.Submit(NbdCommand.Flush, NbdCommandFlags.None, 0, 0, 0, fan, c);
                }
            }
        }

        fan.Completed(null, 0);
    }

    /// <summary>Closes every connection cleanly (see <see cref="NbdConnection.Dispose"/>).</summary>
    public void Dispose()
    {
        for (int i = 0; i < _connections.Length; i++)
        {
            this[i].Dispose();
        }
    }

    private static void CheckSame(NbdUri uri, int index, NbdExportInfo first, NbdExportInfo e)
    {
        if (e.Size != first.Size || e.Flags != first.Flags || e.MinimumBlockSize != first.MinimumBlockSize
            || e.MaximumPayload != first.MaximumPayload || e.StructuredReplies != first.StructuredReplies)
        {
            throw new NbdException(NbdFailure.Protocol, string.Create(CultureInfo.InvariantCulture,
                $"{uri.Text}: connection {index} sees a different export (size {e.Size}, flags {e.Flags}) than connection 0 (size {first.Size}, flags {first.Flags})"));
        }
    }

    private NbdConnection? PickLive()
    {
        int start = (int)((uint)Interlocked.Increment(ref _next) % (uint)_connections.Length);
        for (int i = 0; i < _connections.Length; i++)
        {
            NbdConnection c = this[(start + i) % _connections.Length];
            if (c.IsConnected)
            {
                return c;
            }
        }

        return null;
    }

    private void Return(FlushFan fan)
    {
        lock (_freeFans)
        {
            _freeFans.Push(fan);
            Monitor.Pulse(_freeFans);
        }
    }

    /// <summary>One set flush: counts the connection flushes it sent and reports once all are in.</summary>
    private sealed class FlushFan(NbdConnectionSet owner, int connections) : INbdCompletion
    {
        /// <summary>The connections whose dirty mark this flush took.</summary>
        public readonly bool[] Taken = new bool[connections];

        public int Pending;
        public int Error;
        public INbdCompletion? Completion;
        public object? State;

        public void Completed(object? state, int result)
        {
            if (result < 0)
            {
                Interlocked.CompareExchange(ref Error, result, 0);
            }

            if (Interlocked.Decrement(ref Pending) != 0)
            {
                return;
            }

            int error = Volatile.Read(ref Error);
            if (error != 0)
            {
                // What this flush should have made durable is not known to be: flush those connections again next time.
                for (int i = 0; i < Taken.Length; i++)
                {
                    if (Taken[i])
                    {
                        owner._dirty.Mark(i);
                    }
                }
            }

            INbdCompletion completion = Completion!;
            object? userState = State;
            Completion = null;
            State = null;
            owner.Return(this);
            completion.Completed(userState, error);
        }
    }
}
