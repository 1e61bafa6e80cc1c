using LoopOrder.Queues.Ordering;
using LoopOrder.Queues.Requests;
using LoopOrder.Verification.Backends;

namespace LoopOrder.Verification;

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
    private readonly long[]?[]? _stamps;
    private readonly WriteDataLog? _data;
    private readonly List<RequestRecord> _requests = [];
    private readonly Dictionary<long, SectorValue[]> _reads = [];
    private readonly Lock _readsGate = new();
    private long _clock;

    /// <summary>Creates a recorder for a run whose written sectors carry <paramref name="seed"/> in their headers.</summary>
    public TraceRecorder(ulong seed)
    {
        Seed = seed;
    }

    /// <summary>
    /// Creates a recorder for a real workload (a filesystem on the device, not sector headers):
    /// each write-class request is identified by its sequence number (its <see cref="RequestRecord.WriteId"/>),
    /// each write's data is copied into <paramref name="data"/> when it starts landing, reads are
    /// not decoded, and every event also gets a CLOCK_MONOTONIC timestamp (<see cref="Timestamps"/>)
    /// to relate the trace to what a workload saw.
    /// </summary>
    public TraceRecorder(WriteDataLog data)
    {
        ArgumentNullException.ThrowIfNull(data);
        _data = data;
        _stamps = new long[]?[MaxChunks];
    }

    /// <summary>True for a recorder of real data (<see cref="TraceRecorder(WriteDataLog)"/>): write ids are sequence numbers.</summary>
    public bool RecordsData => _data is not null;

    /// <summary>Where write data goes, for a recorder of real data; else null.</summary>
    public WriteDataLog? Data => _data;

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

    /// <summary>
    /// A copy of each event's timestamp (<see cref="System.Diagnostics.Stopwatch.GetTimestamp"/>,
    /// CLOCK_MONOTONIC in nanoseconds on Linux), taken just before the event took its clock, so a
    /// timestamp later than some instant T means the event happened after T. Null unless the
    /// recorder records real data. Call once the device is quiet.
    /// </summary>
    public long[]? Timestamps
    {
        get
        {
            if (_stamps is null)
            {
                return null;
            }

            long n = Clock;
            var copy = new long[n];
            for (long i = 0; i < n; i += ChunkSize)
            {
                int len = (int)Math.Min(ChunkSize, n - i);
                _stamps[i >> ChunkShift].AsSpan(0, len).CopyTo(copy.AsSpan((int)i, len));
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
        if (_data is not null)
        {
            writeId = request.Op is BlockOp.Write or BlockOp.Discard or BlockOp.WriteZeroes ? (ulong)sequence : 0;
        }
        else if (request.Op == BlockOp.Write && request.Buffer.Kind == RequestBufferKind.Memory && request.Buffer.Length >= BlockRequest.SectorSize)
        {
            unsafe
            {
                writeId = SectorHeader.PeekWriteId(new ReadOnlySpan<byte>((void*)request.Buffer.Address, BlockRequest.SectorSize));
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

    /// <summary>
    /// A snapshot was cut at the barrier <paramref name="barrierSequence"/>. Call it after the cut
    /// is complete and before the barrier is released: the checker then knows that everything
    /// that landed before this event may be in the snapshot and nothing after it is.
    /// </summary>
    /// <param name="barrierSequence">The barrier flush's sequence number.</param>
    public void SnapshotCut(long barrierSequence) => Append(TraceEventKind.Cut, barrierSequence, 0, RequestFlags.None);

    /// <summary>The backend is about to begin <paramref name="request"/> (a land, or a flush's sync).</summary>
    internal void BackendStarted(BlockRequest request)
    {
        if (_data is not null && request.Op == BlockOp.Write && request.Buffer.Kind == RequestBufferKind.Memory)
        {
            // Before the land-start event: the data is in the log before anything could see it land.
            unsafe
            {
                _data.Capture(request.Seq, new ReadOnlySpan<byte>((void*)request.Buffer.Address, Math.Min(request.ByteCount, request.Buffer.Length)));
            }
        }

        Append(request.Op == BlockOp.Flush ? TraceEventKind.SyncStart : TraceEventKind.LandStart, request.Seq, 0, request.Flags);
    }

    /// <summary>
    /// The backend finished <paramref name="request"/>. For a read that succeeded, the data is
    /// decoded now, while the buffer still holds what the backend put there.
    /// </summary>
    internal void BackendEnded(BlockRequest request, int result)
    {
        if (_data is null && request.Op == BlockOp.Read && result >= 0 && request.Buffer.Kind == RequestBufferKind.Memory)
        {
            var values = new SectorValue[request.SectorCount];
            unsafe
            {
                var data = new ReadOnlySpan<byte>((void*)request.Buffer.Address, request.ByteCount);
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

    /// <summary>
    /// A recorder holding a trace read back from a file (<see cref="TraceFile"/>), as if it had
    /// recorded it: requests in sequence order, events in clock order.
    /// </summary>
    internal static TraceRecorder Restore(ulong seed, WriteDataLog? data, IReadOnlyList<RequestRecord> requests,
        IReadOnlyList<TraceEvent> events, IReadOnlyList<long>? timestamps)
    {
        TraceRecorder recorder = data is null ? new TraceRecorder(seed) : new TraceRecorder(data);
        recorder._requests.AddRange(requests);
        for (int i = 0; i < events.Count; i++)
        {
            TraceEvent e = events[i];
            if (e.Clock != i + 1)
            {
                throw new InvalidDataException($"event {i} has clock {e.Clock}; clocks must run 1, 2, ...");
            }

            recorder.Append(e.Kind, e.Sequence, e.Result, e.Flags, timestamps?[i] ?? 0);
        }

        return recorder;
    }

    private long Append(TraceEventKind kind, long sequence, int result, RequestFlags flags, long? stamp = null)
    {
        // Stamped before the clock is taken: an event whose timestamp is after T took its clock after T.
        long timestamp = _stamps is null ? 0 : stamp ?? System.Diagnostics.Stopwatch.GetTimestamp();
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
        if (_stamps is not null)
        {
            long[]? stamps = Volatile.Read(ref _stamps[chunk]);
            if (stamps is null)
            {
                Interlocked.CompareExchange(ref _stamps[chunk], new long[ChunkSize], null);
                stamps = Volatile.Read(ref _stamps[chunk])!;
            }

            stamps[index & (ChunkSize - 1)] = timestamp;
        }

        return clock;
    }
}
