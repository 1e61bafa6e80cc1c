using System.Buffers.Binary;
using LoopOrder.Queues.Ordering;
using LoopOrder.Queues.Requests;

namespace LoopOrder.Verification;

/// <summary>
/// A recorded real workload on disk: one directory holding
/// <list type="bullet">
/// <item><c>trace.bin</c>: the trace (format below);</item>
/// <item><c>data.bin</c>: the data of every write, as <see cref="WriteDataLog"/> appended it;</item>
/// <item><c>initial.img</c>: the backing file as it was before the device served anything (sparse).</item>
/// </list>
/// <c>trace.bin</c>, all integers little-endian: the header (magic <c>LOTRACE1</c>, u32 format
/// version 1, u32 ordering mode (0 drain, 1 strict, 2 none as <see cref="OrderingMode"/>), u64
/// capacity in bytes, u64 seed, i64 timestamp ticks per second, i32 requests, i32 events, i32
/// data entries); then each request (i64 sequence, u8 op, u32 flags, u64 start sector, u32
/// sectors, i32 queue, i32 tag, u64 write id, i64 receive clock: 49 bytes); each event (i64 clock,
/// u8 kind, i64 sequence, i32 result, u32 flags, i64 timestamp: 33 bytes); each data entry (i64
/// sequence, i64 offset in data.bin, i32 length: 20 bytes).
/// </summary>
public static class TraceFile
{
    /// <summary>The trace's file name in the directory.</summary>
    public const string TraceName = "trace.bin";

    /// <summary>The write data's file name in the directory.</summary>
    public const string DataName = "data.bin";

    /// <summary>The initial backing file's name in the directory.</summary>
    public const string InitialName = "initial.img";

    /// <summary>The format version this code writes and reads.</summary>
    public const uint Version = 1;

    private const int RequestBytes = 49;
    private const int EventBytes = 33;
    private const int EntryBytes = 20;
    private const int HeaderBytes = 8 + 4 + 4 + 8 + 8 + 8 + 4 + 4 + 4;

    /// <summary>Copy granule of <see cref="CopyInitial"/>: the page size, so all-zero pages stay holes.</summary>
    private const int HoleGranule = 4096;

    private static ReadOnlySpan<byte> Magic => "LOTRACE1"u8;

    /// <summary>
    /// Copies the backing file <paramref name="source"/> into <paramref name="directory"/> as
    /// <c>initial.img</c>, leaving all-zero pages as holes (a fresh filesystem image is mostly
    /// holes, and the copy may live on tmpfs); for a file about to be created (null), writes
    /// <paramref name="createdSize"/> bytes of zeros (a hole). Creates the directory. Call before
    /// the file is opened for serving (its lock excludes this reader).
    /// </summary>
    public static void CopyInitial(string? source, long createdSize, string directory)
    {
        Directory.CreateDirectory(directory);
        if (source is null)
        {
            using var empty = new FileStream(Path.Combine(directory, InitialName), FileMode.Create, FileAccess.Write, FileShare.None, 0);
            empty.SetLength(createdSize);
            return;
        }

        using var input = new FileStream(source, FileMode.Open, FileAccess.Read, FileShare.ReadWrite, 0);
        using var output = new FileStream(Path.Combine(directory, InitialName), FileMode.Create, FileAccess.Write, FileShare.None, 0);
        var buffer = new byte[1 << 20];
        long position = 0;
        int n;
        while ((n = input.ReadAtLeast(buffer, buffer.Length, throwOnEndOfStream: false)) > 0)
        {
            for (int at = 0; at < n; at += HoleGranule)
            {
                ReadOnlySpan<byte> page = buffer.AsSpan(at, Math.Min(HoleGranule, n - at));
                if (page.ContainsAnyExcept((byte)0))
                {
                    RandomAccess.Write(output.SafeFileHandle, page, position + at);
                }
            }

            position += n;
        }

        output.SetLength(position);
    }

    /// <summary>Writes the trace on <paramref name="recorder"/> (a recorder of real data, quiet now) into <paramref name="directory"/>.</summary>
    public static void Save(TraceRecorder recorder, OrderingMode mode, long capacityBytes, string directory)
    {
        ArgumentNullException.ThrowIfNull(recorder);
        Directory.CreateDirectory(directory);
        TraceEvent[] events = recorder.Events;
        long[] stamps = recorder.Timestamps ?? new long[events.Length];
        IReadOnlyList<RequestRecord> requests = recorder.Requests;
        IReadOnlyList<(long Sequence, long Offset, int Length)> entries = recorder.Data?.Entries ?? [];

        using var file = new FileStream(Path.Combine(directory, TraceName), FileMode.Create, FileAccess.Write);
        using var output = new BufferedStream(file, 1 << 16);
        Span<byte> b = stackalloc byte[HeaderBytes];
        Magic.CopyTo(b);
        BinaryPrimitives.WriteUInt32LittleEndian(b[8..], Version);
        BinaryPrimitives.WriteUInt32LittleEndian(b[12..], (uint)mode);
        BinaryPrimitives.WriteInt64LittleEndian(b[16..], capacityBytes);
        BinaryPrimitives.WriteUInt64LittleEndian(b[24..], recorder.Seed);
        BinaryPrimitives.WriteInt64LittleEndian(b[32..], System.Diagnostics.Stopwatch.Frequency);
        BinaryPrimitives.WriteInt32LittleEndian(b[40..], requests.Count);
        BinaryPrimitives.WriteInt32LittleEndian(b[44..], events.Length);
        BinaryPrimitives.WriteInt32LittleEndian(b[48..], entries.Count);
        output.Write(b);

        Span<byte> r = stackalloc byte[RequestBytes];
        foreach (RequestRecord q in requests)
        {
            BinaryPrimitives.WriteInt64LittleEndian(r, q.Sequence);
            r[8] = (byte)q.Op;
            BinaryPrimitives.WriteUInt32LittleEndian(r[9..], (uint)q.Flags);
            BinaryPrimitives.WriteUInt64LittleEndian(r[13..], q.StartSector);
            BinaryPrimitives.WriteUInt32LittleEndian(r[21..], q.SectorCount);
            BinaryPrimitives.WriteInt32LittleEndian(r[25..], q.QueueId);
            BinaryPrimitives.WriteInt32LittleEndian(r[29..], q.Tag);
            BinaryPrimitives.WriteUInt64LittleEndian(r[33..], q.WriteId);
            BinaryPrimitives.WriteInt64LittleEndian(r[41..], q.ReceiveClock);
            output.Write(r);
        }

        Span<byte> e = stackalloc byte[EventBytes];
        for (int i = 0; i < events.Length; i++)
        {
            TraceEvent v = events[i];
            BinaryPrimitives.WriteInt64LittleEndian(e, v.Clock);
            e[8] = (byte)v.Kind;
            BinaryPrimitives.WriteInt64LittleEndian(e[9..], v.Sequence);
            BinaryPrimitives.WriteInt32LittleEndian(e[17..], v.Result);
            BinaryPrimitives.WriteUInt32LittleEndian(e[21..], (uint)v.Flags);
            BinaryPrimitives.WriteInt64LittleEndian(e[25..], stamps[i]);
            output.Write(e);
        }

        Span<byte> d = stackalloc byte[EntryBytes];
        foreach ((long sequence, long offset, int length) in entries)
        {
            BinaryPrimitives.WriteInt64LittleEndian(d, sequence);
            BinaryPrimitives.WriteInt64LittleEndian(d[8..], offset);
            BinaryPrimitives.WriteInt32LittleEndian(d[16..], length);
            output.Write(d);
        }
    }

    /// <summary>Reads the trace in <paramref name="directory"/> back; throws <see cref="InvalidDataException"/> on anything malformed.</summary>
    public static RecordedTrace Load(string directory)
    {
        string tracePath = Path.Combine(directory, TraceName);
        if (!File.Exists(tracePath))
        {
            throw new FileNotFoundException($"{directory} holds no {TraceName}: not a recorded trace directory", tracePath);
        }

        byte[] bytes = File.ReadAllBytes(tracePath);
        ReadOnlySpan<byte> s = bytes;
        if (s.Length < HeaderBytes || !s[..8].SequenceEqual(Magic))
        {
            throw new InvalidDataException($"{tracePath} is not a LoopOrder trace (bad magic)");
        }

        uint version = BinaryPrimitives.ReadUInt32LittleEndian(s[8..]);
        if (version != Version)
        {
            throw new InvalidDataException($"{tracePath}: format version {version}; this build reads version {Version}");
        }

        var mode = (OrderingMode)BinaryPrimitives.ReadUInt32LittleEndian(s[12..]);
        long capacity = BinaryPrimitives.ReadInt64LittleEndian(s[16..]);
        ulong seed = BinaryPrimitives.ReadUInt64LittleEndian(s[24..]);
        long frequency = BinaryPrimitives.ReadInt64LittleEndian(s[32..]);
        int requestCount = BinaryPrimitives.ReadInt32LittleEndian(s[40..]);
        int eventCount = BinaryPrimitives.ReadInt32LittleEndian(s[44..]);
        int entryCount = BinaryPrimitives.ReadInt32LittleEndian(s[48..]);
        long expected = HeaderBytes + ((long)requestCount * RequestBytes) + ((long)eventCount * EventBytes) + ((long)entryCount * EntryBytes);
        if (!Enum.IsDefined(mode) || capacity <= 0 || capacity % BlockRequest.SectorSize != 0 || frequency <= 0 ||
            requestCount < 0 || eventCount < 0 || entryCount < 0 || expected != s.Length)
        {
            throw new InvalidDataException($"{tracePath}: inconsistent header (mode {(uint)mode}, capacity {capacity}, " +
                $"{requestCount} requests, {eventCount} events, {entryCount} data entries, {s.Length} bytes)");
        }

        s = s[HeaderBytes..];
        var requests = new RequestRecord[requestCount];
        for (int i = 0; i < requestCount; i++, s = s[RequestBytes..])
        {
            requests[i] = new RequestRecord(
                BinaryPrimitives.ReadInt64LittleEndian(s), (BlockOp)s[8], (RequestFlags)BinaryPrimitives.ReadUInt32LittleEndian(s[9..]),
                BinaryPrimitives.ReadUInt64LittleEndian(s[13..]), BinaryPrimitives.ReadUInt32LittleEndian(s[21..]),
                BinaryPrimitives.ReadInt32LittleEndian(s[25..]), BinaryPrimitives.ReadInt32LittleEndian(s[29..]),
                BinaryPrimitives.ReadUInt64LittleEndian(s[33..]), BinaryPrimitives.ReadInt64LittleEndian(s[41..]));
            if (requests[i].Sequence != i + 1)
            {
                throw new InvalidDataException($"{tracePath}: request {i} has sequence {requests[i].Sequence}; sequences must run 1, 2, ...");
            }
        }

        var events = new TraceEvent[eventCount];
        var stamps = new long[eventCount];
        for (int i = 0; i < eventCount; i++, s = s[EventBytes..])
        {
            events[i] = new TraceEvent(BinaryPrimitives.ReadInt64LittleEndian(s), (TraceEventKind)s[8],
                BinaryPrimitives.ReadInt64LittleEndian(s[9..]), BinaryPrimitives.ReadInt32LittleEndian(s[17..]),
                (RequestFlags)BinaryPrimitives.ReadUInt32LittleEndian(s[21..]));
            stamps[i] = BinaryPrimitives.ReadInt64LittleEndian(s[25..]);
            if (!Enum.IsDefined(events[i].Kind))
            {
                throw new InvalidDataException($"{tracePath}: event {i} has unknown kind {(byte)events[i].Kind}");
            }
        }

        var entries = new (long, long, int)[entryCount];
        for (int i = 0; i < entryCount; i++, s = s[EntryBytes..])
        {
            entries[i] = (BinaryPrimitives.ReadInt64LittleEndian(s), BinaryPrimitives.ReadInt64LittleEndian(s[8..]),
                BinaryPrimitives.ReadInt32LittleEndian(s[16..]));
        }

        string dataPath = Path.Combine(directory, DataName);
        if (!File.Exists(dataPath))
        {
            throw new FileNotFoundException($"{directory} holds no {DataName}: the trace's write data is missing", dataPath);
        }

        WriteDataLog data = WriteDataLog.Open(dataPath, entries);
        foreach (RequestRecord q in requests)
        {
            if (q.Op == BlockOp.Write && data.TryFind(q.Sequence, out _, out int length) && length != q.SectorCount * BlockRequest.SectorSize)
            {
                throw new InvalidDataException($"{tracePath}: request #{q.Sequence} writes {q.SectorCount} sectors but its data is {length} bytes");
            }
        }

        TraceRecorder recorder = TraceRecorder.Restore(seed, data, requests, events, stamps);
        return new RecordedTrace(recorder, mode, capacity, frequency, stamps, directory);
    }
}

/// <summary>A recorded real workload read back by <see cref="TraceFile.Load"/>.</summary>
/// <param name="Recorder">The trace, as a recorder that holds it (its <see cref="TraceRecorder.Data"/> points into data.bin).</param>
/// <param name="Mode">The ordering mode the device served with.</param>
/// <param name="CapacityBytes">The device's size.</param>
/// <param name="TicksPerSecond">The timestamps' unit.</param>
/// <param name="Timestamps">Each event's timestamp, by clock - 1.</param>
/// <param name="Directory">Where it was read from.</param>
public sealed record RecordedTrace(
    TraceRecorder Recorder, OrderingMode Mode, long CapacityBytes, long TicksPerSecond, IReadOnlyList<long> Timestamps, string Directory)
{
    /// <summary>The initial backing file.</summary>
    public string InitialPath => Path.Combine(Directory, TraceFile.InitialName);

    /// <summary>Sectors in the device.</summary>
    public ulong CapacitySectors => (ulong)(CapacityBytes / BlockRequest.SectorSize);

    /// <summary>The timestamp of the event at <paramref name="clock"/> in nanoseconds (0 for clock 0: before everything).</summary>
    public long NanosecondsAt(long clock) =>
        clock < 1 ? 0 : TicksPerSecond == 1_000_000_000 ? Timestamps[(int)(clock - 1)]
            : (long)((Int128)Timestamps[(int)(clock - 1)] * 1_000_000_000 / TicksPerSecond);
}
