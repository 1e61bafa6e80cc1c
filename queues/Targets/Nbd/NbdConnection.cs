using System.Buffers.Binary;
using System.Net.Sockets;
using LoopOrder.Interop;

namespace LoopOrder.Queues.Targets.Nbd;

/// <summary>
/// One NBD connection in the transmission phase: many commands in flight, replies matched to
/// them by cookie, simple and structured replies, no allocation per command.
/// </summary>
/// <remarks>
/// <para>Threads. Any thread may <see cref="Submit"/>: it takes a free slot (waiting when all
/// <see cref="NbdConnectionOptions.MaxInFlight"/> are busy), then sends the request under a send
/// lock, on its own thread. One reader thread per connection receives the replies, writes read
/// data straight into the caller's buffer and reports completions. The reader never sends (a
/// reader blocked in a send while the server is blocked sending replies would deadlock both), so
/// the flush that follows a FUA write on a server without FUA is sent by a third thread, started
/// only for such a server.</para>
/// <para>A slot completes when its reply is in and its send has returned (two holds), so a
/// caller never gets its buffer back while the connection still reads from or writes into it.</para>
/// <para>Failure. When the stream ends, a send fails, or the server breaks the protocol, the
/// connection is dead: every command in flight and every later one fails with EIO. A command is
/// never reported successful unless its reply said so.</para>
/// </remarks>
public sealed class NbdConnection : IDisposable
{
    private readonly Socket _socket;
    private readonly NbdConnectionOptions _options;
    private readonly NbdDirtyTracker _dirty;
    private readonly Slot[] _slots;

    /// <summary>Free slot indices; under <see cref="_gate"/>. Sized to all slots, never grows.</summary>
    private readonly Stack<int> _free;

    /// <summary>Guards slot ownership, holds, <see cref="_free"/> and <see cref="_dead"/>.</summary>
    private readonly object _gate = new();

    /// <summary>Serialises requests on the stream; a request's header and payload go out together.</summary>
    private readonly object _sendLock = new();

    /// <summary>Header, plus payload up to the coalesce limit; under <see cref="_sendLock"/>.</summary>
    private readonly byte[] _sendBuffer;

    /// <summary>Slots whose completion the reader's sweep must report, outside the gate; reader thread only.</summary>
    private readonly int[] _sweep;

    private readonly NbdReceiver _receiver;

    /// <summary>Reply headers; reader thread only.</summary>
    private readonly byte[] _header = new byte[NbdWire.ChunkHeaderSize];

    private readonly Thread _reader;

    /// <summary>Sends the flush behind each FUA write when the server has no FUA; null otherwise.</summary>
    private readonly FollowUpSender? _followUps;

    private bool _dead;
    private bool _closing;
    private int _inFlight;
    private long _commandsSent;
    private long _flushesSent;

    private NbdConnection(Socket socket, NbdUri uri, NbdExportInfo export, NbdConnectionOptions options, NbdDirtyTracker dirty, int index)
    {
        _socket = socket;
        _options = options;
        _dirty = dirty;
        Uri = uri;
        Export = export;
        Index = index;
        _slots = new Slot[options.MaxInFlight];
        _free = new Stack<int>(options.MaxInFlight);
        for (int i = options.MaxInFlight - 1; i >= 0; i--)
        {
            _slots[i] = new Slot(i);
            _free.Push(i);
        }

        _sweep = new int[options.MaxInFlight];
        _sendBuffer = new byte[NbdWire.RequestSize + options.CoalesceLimit];
        _receiver = new NbdReceiver(socket, options.ReceiveBufferSize);
        if (!export.CanFua && export.CanFlush)
        {
            _followUps = new FollowUpSender(this);
        }

        _reader = new Thread(ReadReplies) { IsBackground = true, Name = "nbd-reply-" + index.ToString(System.Globalization.CultureInfo.InvariantCulture) };
        _reader.Start();
    }

    /// <summary>The URI this connection was opened with.</summary>
    public NbdUri Uri { get; }

    /// <summary>What the handshake learned.</summary>
    public NbdExportInfo Export { get; }

    /// <summary>This connection's index in its set (0 for a lone connection).</summary>
    public int Index { get; }

    /// <summary>False once the connection dropped or was closed.</summary>
    public bool IsConnected
    {
        get
        {
            lock (_gate)
            {
                return !_dead;
            }
        }
    }

    /// <summary>Commands submitted and not yet completed.</summary>
    public int InFlight => Volatile.Read(ref _inFlight);

    /// <summary>Requests put on the wire (a FUA write emulated with a flush counts twice).</summary>
    public long CommandsSent => Interlocked.Read(ref _commandsSent);

    /// <summary>NBD_CMD_FLUSH requests put on the wire, including those behind emulated FUA writes.</summary>
    public long FlushesSent => Interlocked.Read(ref _flushesSent);

    /// <summary>Connects to <paramref name="uri"/> and negotiates its export.</summary>
    /// <param name="uri">The export.</param>
    /// <param name="options">Tuning; null for the defaults.</param>
    /// <exception cref="NbdException">Unreachable server, refused export, a server this client cannot use.</exception>
    public static NbdConnection Open(NbdUri uri, NbdConnectionOptions? options = null) =>
        Open(uri, options ?? new NbdConnectionOptions(), new NbdDirtyTracker(1), 0);

    internal static NbdConnection Open(NbdUri uri, NbdConnectionOptions options, NbdDirtyTracker dirty, int index)
    {
        ArgumentNullException.ThrowIfNull(uri);
        options.Validate();
        Socket socket = NbdSocket.Connect(uri, options.ConnectTimeout);
        try
        {
            int timeoutMs = (int)Math.Min(int.MaxValue, options.HandshakeTimeout.TotalMilliseconds);
            socket.ReceiveTimeout = timeoutMs;
            socket.SendTimeout = timeoutMs;
            NbdExportInfo export = NbdHandshake.Run(socket, uri);

            // Transmission has no timeout here: a slow server is not a dead one (hang detection is the target's).
            socket.ReceiveTimeout = 0;
            socket.SendTimeout = 0;
            return new NbdConnection(socket, uri, export, options, dirty, index);
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Sends a command. Its completion is reported through <paramref name="completion"/> exactly
    /// once; a command this export cannot take is refused without sending, on this thread:
    /// EINVAL (out of bounds, misaligned, empty, too long, a flag the command does not take),
    /// EROFS (a write to a read-only export), EOPNOTSUPP (a command or FUA the server did not
    /// state), EIO (the connection is dead).
    /// </summary>
    /// <param name="command">Read, write, flush, trim or write-zeroes.</param>
    /// <param name="flags">FUA on a write, trim or write-zeroes; NO_HOLE on a write-zeroes.</param>
    /// <param name="offset">Byte offset in the export (0 for a flush).</param>
    /// <param name="length">Byte count (0 for a flush).</param>
    /// <param name="buffer">For a read, where the data goes; for a write, the data; unused otherwise. Must stay valid until completion.</param>
    /// <param name="completion">Where the result goes.</param>
    /// <param name="state">Passed back to <paramref name="completion"/>.</param>
    public void Submit(NbdCommand command, NbdCommandFlags flags, long offset, int length, nint buffer, INbdCompletion completion, object? state)
    {
        ArgumentNullException.ThrowIfNull(completion);
        Errno refusal = Check(command, ref flags, offset, length, buffer, out bool flushAfter);
        if (refusal != Errno.None)
        {
            completion.Completed(state, refusal.ToResult());
            return;
        }

        Slot? slot = Acquire(command, flags, offset, length, buffer, flushAfter, completion, state);
        if (slot is null)
        {
            completion.Completed(state, NbdErrors.ConnectionLost.ToResult());
            return;
        }

        Send(slot);
        Release(slot);
    }

    /// <summary>
    /// Closes cleanly: waits (up to <see cref="NbdConnectionOptions.CloseTimeout"/>) for commands
    /// in flight, sends NBD_CMD_DISC, and closes; what is still in flight then fails with EIO.
    /// </summary>
    public void Dispose()
    {
        lock (_gate)
        {
            if (_closing)
            {
                return;
            }

            _closing = true;
            long deadline = Environment.TickCount64 + (long)_options.CloseTimeout.TotalMilliseconds;
            while (!_dead && _inFlight > 0)
            {
                long left = deadline - Environment.TickCount64;
                if (left <= 0 || !Monitor.Wait(_gate, (int)Math.Min(left, int.MaxValue)))
                {
                    break;
                }
            }
        }

        lock (_sendLock)
        {
            try
            {
                WriteHeader(_sendBuffer, NbdCommand.Disconnect, NbdCommandFlags.None, 0, 0, 0);
                NbdSocket.SendAll(_socket, _sendBuffer.AsSpan(0, NbdWire.RequestSize));
            }
            catch (Exception e) when (e is SocketException or ObjectDisposedException)
            {
                // Already gone: the reader has failed or will fail what was in flight.
            }
        }

        Abort();
        _reader.Join();
        _followUps?.Stop();
        _socket.Dispose();
    }

    /// <summary>Drops the connection at once, as a network failure would (tests, and a target giving up on a server).</summary>
    internal void Abort()
    {
        try
        {
            _socket.Shutdown(SocketShutdown.Both);
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException)
        {
            // Not connected any more: the reader is already on its way out.
        }
    }

    /// <summary>None when the command may be sent, else the errno it is refused with.</summary>
    private Errno Check(NbdCommand command, ref NbdCommandFlags flags, long offset, int length, nint buffer, out bool flushAfter)
    {
        flushAfter = false;
        NbdExportInfo export = Export;
        bool writes = command is NbdCommand.Write or NbdCommand.Trim or NbdCommand.WriteZeroes;
        switch (command)
        {
            case NbdCommand.Read or NbdCommand.Write:
                if (buffer == 0 || length > export.MaximumPayload)
                {
                    return Errno.EINVAL;
                }

                break;
            case NbdCommand.Flush:
                if (offset != 0 || length != 0 || flags != NbdCommandFlags.None)
                {
                    return Errno.EINVAL;
                }

                return export.CanFlush ? Errno.None : Errno.EOPNOTSUPP;
            case NbdCommand.Trim:
                if (!export.CanTrim)
                {
                    return Errno.EOPNOTSUPP;
                }

                break;
            case NbdCommand.WriteZeroes:
                if (!export.CanWriteZeroes)
                {
                    return Errno.EOPNOTSUPP;
                }

                break;
            default:
                return Errno.EINVAL;
        }

        NbdCommandFlags allowed = command switch
        {
            NbdCommand.WriteZeroes => NbdCommandFlags.Fua | NbdCommandFlags.NoHole,
            NbdCommand.Write or NbdCommand.Trim => NbdCommandFlags.Fua,
            _ => NbdCommandFlags.None,
        };
        if ((flags & ~allowed) != 0)
        {
            return Errno.EINVAL;
        }

        if (length <= 0 || offset < 0 || offset > export.Size - length
            || offset % export.MinimumBlockSize != 0 || length % export.MinimumBlockSize != 0)
        {
            return Errno.EINVAL;
        }

        if (writes && export.IsReadOnly)
        {
            return Errno.EROFS;
        }

        if ((flags & NbdCommandFlags.Fua) != 0 && !export.CanFua)
        {
            // Without FUA on the wire, the same durability comes from a flush of this connection
            // after the write's reply; without flush either, there is no way to ask for it.
            if (!export.CanFlush)
            {
                return Errno.EOPNOTSUPP;
            }

            flags &= ~NbdCommandFlags.Fua;
            flushAfter = true;
        }

        return Errno.None;
    }

    /// <summary>Takes a free slot (waiting for one), or null when the connection is dead.</summary>
    private Slot? Acquire(NbdCommand command, NbdCommandFlags flags, long offset, int length, nint buffer, bool flushAfter, INbdCompletion completion, object? state)
    {
        lock (_gate)
        {
            while (_free.Count == 0 && !_dead)
            {
                Monitor.Wait(_gate);
            }

            if (_dead)
            {
                return null;
            }

            Slot slot = _slots[_free.Pop()];
            slot.Generation++;
            slot.Command = command;
            slot.Flags = flags;
            slot.Offset = (ulong)offset;
            slot.Length = (uint)length;
            slot.Buffer = buffer;
            slot.FlushAfter = flushAfter;
            slot.Completion = completion;
            slot.State = state;
            slot.Error = Errno.None;
            slot.Covered = 0;
            slot.Holds = 2;
            slot.ReplyPending = true;
            _inFlight++;
            return slot;
        }
    }

    /// <summary>Puts the slot's request on the wire; on failure, drops the connection (the reader then fails the slot).</summary>
    private void Send(Slot slot)
    {
        lock (_sendLock)
        {
            try
            {
                ulong cookie;
                NbdCommand command;
                lock (_gate)
                {
                    cookie = slot.Cookie;
                    command = slot.Command;
                }

                WriteHeader(_sendBuffer, command, slot.Flags, cookie, slot.Offset, command == NbdCommand.Flush ? 0 : slot.Length);
                int length = (int)slot.Length;
                if (command != NbdCommand.Write)
                {
                    NbdSocket.SendAll(_socket, _sendBuffer.AsSpan(0, NbdWire.RequestSize));
                }
                else if (length <= _options.CoalesceLimit)
                {
                    Payload(slot).CopyTo(_sendBuffer.AsSpan(NbdWire.RequestSize));
                    NbdSocket.SendAll(_socket, _sendBuffer.AsSpan(0, NbdWire.RequestSize + length));
                }
                else
                {
                    NbdSocket.SendAll(_socket, _sendBuffer.AsSpan(0, NbdWire.RequestSize));
                    NbdSocket.SendAll(_socket, Payload(slot));
                }

                Interlocked.Increment(ref _commandsSent);
                if (command == NbdCommand.Flush)
                {
                    Interlocked.Increment(ref _flushesSent);
                }
            }
            catch (Exception e) when (e is SocketException or ObjectDisposedException)
            {
                Abort();
            }
        }
    }

    private static unsafe Span<byte> Payload(Slot slot) => new((void*)slot.Buffer, (int)slot.Length);

    private static void WriteHeader(Span<byte> header, NbdCommand command, NbdCommandFlags flags, ulong cookie, ulong offset, uint length)
    {
        BinaryPrimitives.WriteUInt32BigEndian(header, NbdWire.RequestMagic);
        BinaryPrimitives.WriteUInt16BigEndian(header[4..], (ushort)flags);
        BinaryPrimitives.WriteUInt16BigEndian(header[6..], (ushort)command);
        BinaryPrimitives.WriteUInt64BigEndian(header[8..], cookie);
        BinaryPrimitives.WriteUInt64BigEndian(header[16..], offset);
        BinaryPrimitives.WriteUInt32BigEndian(header[24..], length);
    }

    /// <summary>Drops one hold; the last one frees the slot and reports the result.</summary>
    private void Release(Slot slot)
    {
        INbdCompletion completion;
        object? state;
        int result;
        lock (_gate)
        {
            if (--slot.Holds > 0)
            {
                return;
            }

            completion = slot.Completion!;
            state = slot.State;
            result = slot.Result;
            slot.Completion = null;
            slot.State = null;
            slot.Buffer = 0;
            _free.Push(slot.Index);
            _inFlight--;
            Monitor.PulseAll(_gate);
        }

        completion.Completed(state, result);
    }

    /// <summary>The reader thread: replies until the stream ends or breaks the protocol, then fails what is left.</summary>
    private void ReadReplies()
    {
        try
        {
            while (ReadOne())
            {
            }
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException)
        {
            // The stream broke: handled below like an end of stream.
        }

        FailAll();
    }

    /// <summary>Reads one reply message; false when the connection must end.</summary>
    private bool ReadOne()
    {
        Span<byte> header = _header;
        if (!_receiver.Read(header[..4]))
        {
            return false;
        }

        uint magic = BinaryPrimitives.ReadUInt32BigEndian(header);
        if (magic == NbdWire.SimpleReplyMagic)
        {
            if (!_receiver.Read(header[4..NbdWire.SimpleReplySize]))
            {
                return false;
            }

            uint error = BinaryPrimitives.ReadUInt32BigEndian(header[4..]);
            Slot? slot = Find(BinaryPrimitives.ReadUInt64BigEndian(header[8..]));
            if (slot is null || (slot.Command == NbdCommand.Read && Export.StructuredReplies))
            {
                // Unknown cookie, or a simple reply to a read after structured replies were agreed.
                return false;
            }

            if (slot.Command == NbdCommand.Read && error == 0 && !_receiver.Read(Payload(slot)))
            {
                return false;
            }

            Finish(slot, error == 0 ? Errno.None : NbdErrors.ToErrno(error));
            return true;
        }

        if (magic != NbdWire.StructuredReplyMagic || !Export.StructuredReplies || !_receiver.Read(header[4..NbdWire.ChunkHeaderSize]))
        {
            return false;
        }

        ushort flags = BinaryPrimitives.ReadUInt16BigEndian(header[4..]);
        ushort type = BinaryPrimitives.ReadUInt16BigEndian(header[6..]);
        Slot? chunkSlot = Find(BinaryPrimitives.ReadUInt64BigEndian(header[8..]));
        uint length = BinaryPrimitives.ReadUInt32BigEndian(header[16..]);
        if (chunkSlot is null || !ReadChunk(chunkSlot, type, length))
        {
            return false;
        }

        if ((flags & NbdWire.ReplyFlagDone) == 0)
        {
            return type != NbdWire.ReplyTypeNone;
        }

        if (chunkSlot.Error == Errno.None && chunkSlot.Command == NbdCommand.Read && chunkSlot.Covered != chunkSlot.Length)
        {
            // Success claimed without data for the whole range: the document allows a hard disconnect.
            return false;
        }

        Finish(chunkSlot, chunkSlot.Error);
        return true;
    }

    /// <summary>Consumes one structured chunk's payload into its slot; false on a protocol violation or end of stream.</summary>
    private bool ReadChunk(Slot slot, ushort type, uint length)
    {
        Span<byte> field = _header.AsSpan(0, 12);
        switch (type)
        {
            case NbdWire.ReplyTypeNone:
                return length == 0;
            case NbdWire.ReplyTypeOffsetData:
            {
                if (slot.Command != NbdCommand.Read || length < 9 || !_receiver.Read(field[..8]))
                {
                    return false;
                }

                uint count = length - 8;
                if (!Within(slot, BinaryPrimitives.ReadUInt64BigEndian(field), count, out int at))
                {
                    return false;
                }

                slot.Covered += count;
                return _receiver.Read(Payload(slot).Slice(at, (int)count));
            }

            case NbdWire.ReplyTypeOffsetHole:
            {
                if (slot.Command != NbdCommand.Read || length != 12 || !_receiver.Read(field))
                {
                    return false;
                }

                uint count = BinaryPrimitives.ReadUInt32BigEndian(field[8..]);
                if (count == 0 || !Within(slot, BinaryPrimitives.ReadUInt64BigEndian(field), count, out int at))
                {
                    return false;
                }

                slot.Covered += count;
                Payload(slot).Slice(at, (int)count).Clear();
                return true;
            }

            default:
                if ((type & NbdWire.ReplyTypeErrorBit) == 0 || length < 6 || !_receiver.Read(field[..6]))
                {
                    // An unknown chunk that is not an error chunk: the document requires a hard disconnect.
                    return false;
                }

                uint error = BinaryPrimitives.ReadUInt32BigEndian(field);
                ushort messageLength = BinaryPrimitives.ReadUInt16BigEndian(field[4..]);
                if (messageLength > length - 6)
                {
                    return false;
                }

                if (slot.Error == Errno.None)
                {
                    // The first error stands; an error of 0 breaks the rules but is still an error.
                    slot.Error = error == 0 ? Errno.EIO : NbdErrors.ToErrno(error);
                }

                // The message (for a human) and ERROR_OFFSET's offset are not needed: the whole command fails.
                return _receiver.Skip(length - 6);
        }
    }

    /// <summary>Whether [offset, offset+count) lies inside the slot's request, and where in its buffer.</summary>
    private static bool Within(Slot slot, ulong offset, uint count, out int at)
    {
        at = 0;
        if (offset < slot.Offset || offset - slot.Offset > slot.Length || count > slot.Length - (offset - slot.Offset))
        {
            return false;
        }

        at = (int)(offset - slot.Offset);
        return true;
    }

    /// <summary>The slot a reply's cookie names, or null for a cookie not in flight (a protocol violation).</summary>
    private Slot? Find(ulong cookie)
    {
        ulong index = cookie & 0xffff_ffff;
        if (index >= (ulong)_slots.Length)
        {
            return null;
        }

        Slot slot = _slots[index];
        lock (_gate)
        {
            return slot.ReplyPending && slot.Cookie == cookie ? slot : null;
        }
    }

    /// <summary>The reply to the slot's command is complete with <paramref name="errno"/> (None for success).</summary>
    private void Finish(Slot slot, Errno errno)
    {
        bool modifying = slot.Command is NbdCommand.Write or NbdCommand.Trim or NbdCommand.WriteZeroes;
        if (modifying)
        {
            // Before the completion is reported: see NbdDirtyTracker. Failed writes too (part may have landed).
            _dirty.Mark(Index);
        }

        if (slot.FlushAfter && errno == Errno.None)
        {
            lock (_gate)
            {
                // The write is in; its FUA is the flush that now goes out in the same slot, whose
                // reply completes the command. A new generation: the write's cookie is spent.
                slot.FlushAfter = false;
                slot.ResultBytes = slot.Command == NbdCommand.Write ? slot.Length : 0;
                slot.Command = NbdCommand.Flush;
                slot.Flags = NbdCommandFlags.None;
                slot.Offset = 0;
                slot.Generation++;
                slot.Holds++;
            }

            _followUps!.Enqueue(slot);
            return;
        }

        lock (_gate)
        {
            slot.ReplyPending = false;
            slot.Result = errno != Errno.None ? errno.ToResult()
                : slot.ResultBytes != 0 ? (int)slot.ResultBytes
                : slot.Command is NbdCommand.Read or NbdCommand.Write ? (int)slot.Length : 0;
            slot.ResultBytes = 0;
        }

        Release(slot);
    }

    /// <summary>The connection is over: nothing new is taken, and every reply still owed fails with EIO.</summary>
    private void FailAll()
    {
        int count = 0;
        lock (_gate)
        {
            _dead = true;
            Monitor.PulseAll(_gate);
            foreach (Slot slot in _slots)
            {
                if (slot.ReplyPending)
                {
                    if (slot.Command is NbdCommand.Write or NbdCommand.Trim or NbdCommand.WriteZeroes)
                    {
                        // Sent, unanswered: part of it may sit in the server's cache for this
                        // connection. Marked before _dead is seen, so whoever finds the connection
                        // dead also finds the mark (NbdConnectionSet.Reconnect).
                        _dirty.Mark(Index);
                    }

                    slot.ReplyPending = false;
                    slot.FlushAfter = false;
                    slot.ResultBytes = 0;
                    slot.Result = NbdErrors.ConnectionLost.ToResult();
                    _sweep[count++] = slot.Index;
                }
            }
        }

        Abort();
        for (int i = 0; i < count; i++)
        {
            Release(_slots[_sweep[i]]);
        }
    }

    /// <summary>Per-command state, preallocated; fields are under the connection's gate unless noted.</summary>
    private sealed class Slot(int index)
    {
        public readonly int Index = index;
        public uint Generation;
        public NbdCommand Command;
        public NbdCommandFlags Flags;
        public ulong Offset;
        public uint Length;
        public nint Buffer;
        public bool FlushAfter;
        public INbdCompletion? Completion;
        public object? State;

        /// <summary>Send and reply: the slot completes when both are done.</summary>
        public int Holds;

        /// <summary>A reply is owed; its cookie is live.</summary>
        public bool ReplyPending;

        /// <summary>First error among the reply's chunks; reader thread only.</summary>
        public Errno Error;

        /// <summary>Read bytes covered by data and hole chunks; reader thread only.</summary>
        public uint Covered;

        /// <summary>For a FUA write finished by a flush: the write's byte count, which the command reports.</summary>
        public uint ResultBytes;

        /// <summary>What completion reports.</summary>
        public int Result;

        /// <summary>The slot index in the low half, the generation in the high half: a stale or forged reply cannot match.</summary>
        public ulong Cookie => ((ulong)Generation << 32) | (uint)Index;
    }

    /// <summary>
    /// Sends the flushes that stand in for FUA on a server without it. A thread of its own because
    /// the reader, which learns that the write is in, must never block in a send.
    /// </summary>
    private sealed class FollowUpSender
    {
        private readonly NbdConnection _owner;
        private readonly Queue<Slot> _queue;
        private readonly Thread _thread;
        private bool _stopping;

        public FollowUpSender(NbdConnection owner)
        {
            _owner = owner;
            _queue = new Queue<Slot>(owner._slots.Length);
            _thread = new Thread(Run) { IsBackground = true, Name = "nbd-fua-flush-" + owner.Index.ToString(System.Globalization.CultureInfo.InvariantCulture) };
            _thread.Start();
        }

        public void Enqueue(Slot slot)
        {
            lock (_queue)
            {
                _queue.Enqueue(slot);
                Monitor.Pulse(_queue);
            }
        }

        public void Stop()
        {
            lock (_queue)
            {
                _stopping = true;
                Monitor.Pulse(_queue);
            }

            _thread.Join();
        }

        private void Run()
        {
            while (true)
            {
                Slot slot;
                lock (_queue)
                {
                    while (_queue.Count == 0 && !_stopping)
                    {
                        Monitor.Wait(_queue);
                    }

                    if (_queue.Count == 0)
                    {
                        return;
                    }

                    slot = _queue.Dequeue();
                }

                // On a dead connection the send fails at once; the reader's sweep has set the result.
                _owner.Send(slot);
                _owner.Release(slot);
            }
        }
    }
}
