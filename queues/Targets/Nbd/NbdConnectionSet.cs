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
/// </remarks>
public sealed class NbdConnectionSet : IDisposable
{
    private readonly NbdConnection[] _connections;
    private readonly NbdDirtyTracker _dirty;
    private readonly FlushFan[] _fans;
    private readonly Stack<FlushFan> _freeFans;
    private int _next;
    private int _flushes;
    private int _flushesSkipped;

    private NbdConnectionSet(NbdConnection[] connections, NbdDirtyTracker dirty, int maxFlushes)
    {
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

    /// <summary>Connection <paramref name="index"/>.</summary>
    /// <param name="index">0 to <see cref="Count"/> - 1.</param>
    public NbdConnection this[int index] => _connections[index];

    /// <summary>Opens <paramref name="connections"/> connections to <paramref name="uri"/>'s export.</summary>
    /// <param name="uri">The export.</param>
    /// <param name="connections">How many (at least 1).</param>
    /// <param name="options">Tuning of each connection; null for the defaults.</param>
    /// <exception cref="NbdException">Any connection fails to open, or the connections disagree about the export.</exception>
    public static NbdConnectionSet Open(NbdUri uri, int connections, NbdConnectionOptions? options = null)
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
                NbdExportInfo first = opened[0].Export;
                if (c.Export.Size != first.Size || c.Export.Flags != first.Flags || c.Export.MinimumBlockSize != first.MinimumBlockSize
                    || c.Export.MaximumPayload != first.MaximumPayload || c.Export.StructuredReplies != first.StructuredReplies)
                {
                    throw new NbdException(NbdFailure.Protocol, string.Create(CultureInfo.InvariantCulture,
                        $"{uri.Text}: connection {i} sees a different export (size {c.Export.Size}, flags {c.Export.Flags}) than connection 0 (size {first.Size}, flags {first.Flags})"));
                }
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
        return new NbdConnectionSet([.. opened], dirty, options.MaxInFlight * connections);
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

        if (connection < 0)
        {
            connection = (int)((uint)Interlocked.Increment(ref _next) % (uint)_connections.Length);
        }

        _connections[connection].Submit(command, flags, offset, length, buffer, completion, state);
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
        if (Export.CanMultiConn)
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
                    _connections[i].Submit(NbdCommand.Flush, NbdCommandFlags.None, 0, 0, 0, fan, _connections[i]);
                }
            }
        }

        fan.Completed(null, 0);
    }

    /// <summary>Closes every connection cleanly (see <see cref="NbdConnection.Dispose"/>).</summary>
    public void Dispose()
    {
        foreach (NbdConnection c in _connections)
        {
            c.Dispose();
        }
    }

    private NbdConnection? PickLive()
    {
        int start = (int)((uint)Interlocked.Increment(ref _next) % (uint)_connections.Length);
        for (int i = 0; i < _connections.Length; i++)
        {
            NbdConnection c = _connections[(start + i) % _connections.Length];
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
