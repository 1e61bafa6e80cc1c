using LoopOrder.Queues.Ordering;
using LoopOrder.Queues.Requests;

namespace LoopOrder.Queues.Verification;

/// <summary>
/// The event log of one device: the Sequencer reports receipts and acknowledgements (under its
/// lock, see <see cref="ISequencerObserver"/>), a <see cref="RecordingBackend"/> reports land and
/// sync starts and ends. Every event takes the next tick of one Interlocked logical clock, so the
/// log is a total order that agrees with every happens-before the engine creates.
/// Events go to slot clock-1 of a chunked array that only ever grows, so recording takes no lock
/// and allocates only a new chunk every <see cref="ChunkSize"/> events. Read the log
/// (<see cref="Events"/>, <see cref="Requests"/>) once the device is quiet.
/// </summary>
public sealed class TraceRecorder : ISequencerObserver
{
    /// <summary>Events per chunk: large enough that a workload needs one or two.</summary>
    private const int ChunkSize = 1024;

    /// <summary>log2 of <see cref="ChunkSize"/>.</summary>
    private const int ChunkShift = 10;

    /// <summary>Chunks in the directory: 65,536 chunks of 1,024 events is 64 Mi events, more than any test records.</summary>
    private const int MaxChunks = 1 << 16;

    private readonly TraceEvent[]?[] _chunks = new TraceEvent[]?[MaxChunks];
    private readonly List<RequestRecord> _requests = [];
    private readonly Dictionary<long, SectorValue[]> _reads = [];
    private readonly Lock _readsGate = new();
    private long _clock;

    /// <summary>Creates a recorder for a run whose written sectors carry <paramref name="seed"/> in their headers.</summary>
    public TraceRecorder(ulong seed)
    {
        Seed = seed;
    }

    /// <summary>The seed written into every sector header of this run.</summary>
    public ulong Seed { get; }

    /// <summary>Ticks taken so far.</summary>
    public long Clock => Volatile.Read(ref _clock);

    /// <summary>Every request received, indexed by sequence number - 1.</summary>
    public IReadOnlyList<RequestRecord> Requests => _requests;

    /// <summary>A copy of the event log in clock order. Call once the device is quiet.</summary>
    public TraceEvent[] Events
    {
        get
        {
            long n = Clock;
            var copy = new TraceEvent[n];
            for (long i = 0; i < n; i += ChunkSize)
            {
                int len = (int)Math.Min(ChunkSize, n - i);
                _chunks[i >> ChunkShift].AsSpan(0, len).CopyTo(copy.AsSpan((int)i, len));
            }

            return copy;
        }
    }

    /// <summary>What a read returned, per sector, decoded at the moment its data landed; null if none was recorded.</summary>
    public IReadOnlyList<SectorValue>? ReadData(long sequence)
    {
        lock (_readsGate)
        {
            return _reads.GetValueOrDefault(sequence);
        }
    }

    /// <inheritdoc />
    public void Received(BlockRequest request, long sequence)
    {
        ArgumentNullException.ThrowIfNull(request);

        // Called under the Sequencer's lock, so receipts arrive one at a time and in sequence order.
        if (sequence != _requests.Count + 1)
        {
            throw new InvalidOperationException($"sequence {sequence} after {_requests.Count}: one recorder per Sequencer");
        }

        ulong writeId = 0;
        if (request.Op == BlockOp.Write && request.Buffer != 0 && request.BufferLength >= BlockRequest.SectorSize)
        {
            unsafe
            {
                writeId = SectorHeader.PeekWriteId(new ReadOnlySpan<byte>((void*)request.Buffer, BlockRequest.SectorSize));
            }
        }

        long clock = Append(TraceEventKind.Receive, sequence, 0, request.Flags);
        _requests.Add(new RequestRecord(sequence, request.Op, request.Flags, request.StartSector, request.SectorCount,
            request.QueueId, request.Tag, writeId, clock));
    }

    /// <inheritdoc />
    public void Acknowledged(BlockRequest request, long sequence, int result)
    {
        ArgumentNullException.ThrowIfNull(request);
        Append(TraceEventKind.Acknowledge, sequence, result, request.Flags);
    }

    /// <summary>The backend is about to begin <paramref name="request"/> (a land, or a flush's sync).</summary>
    internal void BackendStarted(BlockRequest request) =>
        Append(request.Op == BlockOp.Flush ? TraceEventKind.SyncStart : TraceEventKind.LandStart, request.Seq, 0, request.Flags);

    /// <summary>
    /// The backend finished <paramref name="request"/>. For a read that succeeded, the data is
    /// decoded now, while the buffer still holds what the backend put there.
    /// </summary>
    internal void BackendEnded(BlockRequest request, int result)
    {
        if (request.Op == BlockOp.Read && result >= 0 && request.Buffer != 0)
        {
            var values = new SectorValue[request.SectorCount];
            unsafe
            {
                var data = new ReadOnlySpan<byte>((void*)request.Buffer, request.ByteCount);
                for (int i = 0; i < values.Length; i++)
                {
                    values[i] = SectorHeader.Decode(data.Slice(i * BlockRequest.SectorSize, BlockRequest.SectorSize), Seed,
                        request.StartSector + (ulong)i);
                }
            }

            lock (_readsGate)
            {
                _reads[request.Seq] = values;
            }
        }

        Append(request.Op == BlockOp.Flush ? TraceEventKind.SyncEnd : TraceEventKind.LandEnd, request.Seq, result, request.Flags);
    }

    private long Append(TraceEventKind kind, long sequence, int result, RequestFlags flags)
    {
        long clock = Interlocked.Increment(ref _clock);
        long index = clock - 1;
        int chunk = (int)(index >> ChunkShift);
        if (chunk >= MaxChunks)
        {
            throw new InvalidOperationException("trace full");
        }

        TraceEvent[]? events = Volatile.Read(ref _chunks[chunk]);
        if (events is null)
        {
            // Racing recorders may both allocate; one wins and the other uses the winner's chunk.
            Interlocked.CompareExchange(ref _chunks[chunk], new TraceEvent[ChunkSize], null);
            events = Volatile.Read(ref _chunks[chunk])!;
        }

        events[index & (ChunkSize - 1)] = new TraceEvent(clock, kind, sequence, result, flags);
        return clock;
    }
}
