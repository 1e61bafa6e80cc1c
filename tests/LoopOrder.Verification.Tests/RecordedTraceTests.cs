using System.Runtime.InteropServices;
using LoopOrder.Queues.Ordering;
using LoopOrder.Queues.Requests;
using LoopOrder.Verification;

namespace LoopOrder.Verification.Tests;

/// <summary>
/// Recording a real workload (write data, timestamps), its file format, and crash images rendered
/// from real data: what <c>serve --record-trace</c> and <c>loop-order crash-images</c> rest on.
/// </summary>
public sealed unsafe class RecordedTraceTests : IDisposable
{
    /// <summary>A 32-sector device.</summary>
    private const int Sectors = 32;

    private readonly string _dir = Path.Combine(Path.GetTempPath(), $"lo-trace-{Guid.NewGuid():N}");
    private readonly List<BlockRequest> _requests = [];
    private readonly List<nint> _buffers = [];
    private readonly WriteDataLog _log;
    private readonly TraceRecorder _recorder;

    public RecordedTraceTests()
    {
        Directory.CreateDirectory(_dir);
        _log = new WriteDataLog(Path.Combine(_dir, TraceFile.DataName));
        _recorder = new TraceRecorder(_log);
    }

    public void Dispose()
    {
        _log.Dispose();
        foreach (nint b in _buffers)
        {
            NativeMemory.Free((void*)b);
        }

        Directory.Delete(_dir, recursive: true);
    }

    /// <summary>Receives a request; a write's sectors are all <paramref name="fill"/>.</summary>
    private long Recv(BlockOp op, ulong start = 0, uint count = 0, byte fill = 0, RequestFlags flags = RequestFlags.None)
    {
        int bytes = op == BlockOp.Write ? (int)count * BlockRequest.SectorSize : 0;
        nint buffer = 0;
        if (bytes > 0)
        {
            buffer = (nint)NativeMemory.Alloc((nuint)bytes);
            _buffers.Add(buffer);
            new Span<byte>((void*)buffer, bytes).Fill(fill);
        }

        var r = new BlockRequest(0, _requests.Count, NoCompletion.Instance);
        r.Prepare(op, flags, start, count, RequestBuffer.Memory(buffer, bytes));
        _requests.Add(r);
        r.Seq = _requests.Count;
        _recorder.Received(r, r.Seq);
        return r.Seq;
    }

    private BlockRequest Of(long seq) => _requests[(int)seq - 1];

    private void Run(long seq)
    {
        BlockRequest r = Of(seq);
        _recorder.BackendStarted(r);
        _recorder.BackendEnded(r, r.Op == BlockOp.Write ? r.ByteCount : 0);
        _recorder.Acknowledged(r, seq, r.Op == BlockOp.Write ? r.ByteCount : 0);
    }

    /// <summary>An initial file of <see cref="Sectors"/> sectors, sector s all (s + 1), saved with the trace.</summary>
    private byte[] SaveWithInitial(OrderingMode mode = OrderingMode.Drain)
    {
        var initial = new byte[Sectors * BlockRequest.SectorSize];
        for (int s = 0; s < Sectors; s++)
        {
            initial.AsSpan(s * BlockRequest.SectorSize, BlockRequest.SectorSize).Fill((byte)(s + 1));
        }

        string source = Path.Combine(_dir, "backing.img");
        File.WriteAllBytes(source, initial);
        TraceFile.CopyInitial(source, 0, _dir);
        TraceFile.Save(_recorder, mode, initial.Length, _dir);
        return initial;
    }

    private static byte[] Sector(byte[] image, int s) => image.AsSpan(s * BlockRequest.SectorSize, BlockRequest.SectorSize).ToArray();

    [Fact]
    public void Writes_are_identified_by_sequence_and_their_data_captured_at_land_start()
    {
        long w = Recv(BlockOp.Write, 4, 2, fill: 0xAB);
        long d = Recv(BlockOp.Discard, 8, 4);
        _recorder.BackendStarted(Of(w));

        // The data changes after the land started (it cannot, but a copy taken later would show it).
        new Span<byte>((void*)Of(w).Buffer.Address, Of(w).ByteCount).Fill(0xCD);
        _recorder.BackendStarted(Of(w)); // a resumed short write keeps the first copy

        Assert.Equal((ulong)w, _recorder.Requests[0].WriteId);
        Assert.Equal((ulong)d, _recorder.Requests[1].WriteId);
        Assert.True(_log.TryFind(w, out long offset, out int length));
        Assert.Equal(2 * BlockRequest.SectorSize, length);
        Assert.False(_log.TryFind(d, out _, out _));
        _log.Dispose();
        byte[] data = File.ReadAllBytes(_log.Path);
        Assert.Equal(length, data.Length);
        Assert.All(data.AsSpan((int)offset, length).ToArray(), b => Assert.Equal(0xAB, b));
    }

    [Fact]
    public void Every_event_is_stamped_with_a_monotonic_time_in_clock_order()
    {
        long before = System.Diagnostics.Stopwatch.GetTimestamp();
        Run(Recv(BlockOp.Write, 0, 1, fill: 1));
        Run(Recv(BlockOp.Flush));
        long after = System.Diagnostics.Stopwatch.GetTimestamp();

        long[] stamps = _recorder.Timestamps!;
        Assert.Equal(_recorder.Clock, stamps.Length);
        Assert.All(stamps, t => Assert.InRange(t, before, after));
        Assert.Equal(stamps.Order(), stamps);
        Assert.Null(new TraceRecorder(1).Timestamps);
    }

    [Fact]
    public void A_saved_trace_loads_back_identical()
    {
        long w1 = Recv(BlockOp.Write, 0, 3, fill: 0x11);
        long w2 = Recv(BlockOp.Write, 2, 2, fill: 0x22, RequestFlags.Fua);
        long z = Recv(BlockOp.WriteZeroes, 10, 2);
        long f = Recv(BlockOp.Flush);
        Run(w1);
        Run(w2);
        Run(z);
        Run(f);
        _log.Dispose();
        SaveWithInitial(OrderingMode.Strict);

        RecordedTrace loaded = TraceFile.Load(_dir);

        Assert.Equal(OrderingMode.Strict, loaded.Mode);
        Assert.Equal(Sectors * BlockRequest.SectorSize, loaded.CapacityBytes);
        Assert.Equal(_recorder.Requests, loaded.Recorder.Requests);
        Assert.Equal(_recorder.Events, loaded.Recorder.Events);
        Assert.Equal(_recorder.Timestamps, loaded.Timestamps);
        Assert.Equal(_log.Entries, loaded.Recorder.Data!.Entries);
        Assert.True(loaded.Recorder.RecordsData);
    }

    [Fact]
    public void An_image_after_an_acknowledged_flush_is_the_initial_file_with_every_write_applied()
    {
        long w1 = Recv(BlockOp.Write, 0, 3, fill: 0xA1);
        long w2 = Recv(BlockOp.Write, 2, 2, fill: 0xB2);
        long disc = Recv(BlockOp.Discard, 20, 4);
        long f = Recv(BlockOp.Flush);
        Run(w1);
        Run(w2);
        Run(disc);
        Run(f);
        _log.Dispose();
        byte[] initial = SaveWithInitial();

        using var renderer = new CrashImageRenderer(TraceFile.Load(_dir));
        string path = Path.Combine(_dir, "crash.img");
        CrashImage image = renderer.Render(renderer.Model.LastClock, new Random(3), path);
        byte[] bytes = File.ReadAllBytes(path);

        Assert.Equal(0, image.Violations);
        Assert.Equal(3 + 2 - 1 + 4, image.SectorsFromWrites);
        Assert.Equal(initial.Length, bytes.Length);
        byte[] expected = (byte[])initial.Clone();
        expected.AsSpan(0, 2 * 512).Fill(0xA1);
        expected.AsSpan(2 * 512, 2 * 512).Fill(0xB2); // w2 landed after w1, before the sync: only its data
        expected.AsSpan(20 * 512, 4 * 512).Clear();
        Assert.Equal(expected, bytes);
    }

    [Fact]
    public void An_image_before_anything_landed_is_the_initial_file_and_later_images_forget_earlier_choices()
    {
        long w = Recv(BlockOp.Write, 5, 1, fill: 0x77);
        long f = Recv(BlockOp.Flush);
        Run(w);
        Run(f);
        _log.Dispose();
        byte[] initial = SaveWithInitial();
        using var renderer = new CrashImageRenderer(TraceFile.Load(_dir));
        string path = Path.Combine(_dir, "crash.img");

        renderer.Render(renderer.Model.LastClock, new Random(1), path);
        Assert.Equal(0x77, Sector(File.ReadAllBytes(path), 5)[0]);

        CrashImage early = renderer.Render(1, new Random(1), path);
        Assert.Equal(0, early.SectorsFromWrites);
        Assert.Equal(initial, File.ReadAllBytes(path));
    }

    [Fact]
    public void Unsynced_writes_may_or_may_not_be_in_an_image_and_either_is_allowed()
    {
        long w = Recv(BlockOp.Write, 7, 1, fill: 0x5A);
        Run(w);
        _log.Dispose();
        SaveWithInitial();
        using var renderer = new CrashImageRenderer(TraceFile.Load(_dir));
        string path = Path.Combine(_dir, "crash.img");
        var seen = new HashSet<byte>();
        var random = new Random(9);
        for (int i = 0; i < 40; i++)
        {
            Assert.Equal(0, renderer.Render(renderer.Model.LastClock, random, path).Violations);
            seen.Add(Sector(File.ReadAllBytes(path), 7)[0]);
        }

        Assert.Equal(new byte[] { 8, 0x5A }, seen.Order().ToArray()); // the initial sector is all 8s
    }

    [Fact]
    public void Clocks_are_chosen_within_the_run()
    {
        for (int i = 0; i < 6; i++)
        {
            long w = Recv(BlockOp.Write, (ulong)i, 1, fill: (byte)i);
            Run(w);
            Run(Recv(BlockOp.Flush));
        }

        _log.Dispose();
        SaveWithInitial();
        using var renderer = new CrashImageRenderer(TraceFile.Load(_dir));
        long[] clocks = renderer.ChooseClocks(40, new Random(2));
        Assert.All(clocks, c => Assert.InRange(c, 1, renderer.Model.LastClock));
    }

    [Fact]
    public void A_file_that_is_not_a_trace_is_refused_with_what_is_wrong()
    {
        File.WriteAllText(Path.Combine(_dir, TraceFile.TraceName), "not a trace at all, just text that is long enough");
        var bad = Assert.Throws<InvalidDataException>(() => TraceFile.Load(_dir));
        Assert.Contains("bad magic", bad.Message, StringComparison.Ordinal);

        string empty = Path.Combine(_dir, "empty");
        Directory.CreateDirectory(empty);
        var missing = Assert.Throws<FileNotFoundException>(() => TraceFile.Load(empty));
        Assert.Contains("not a recorded trace directory", missing.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_truncated_trace_is_refused()
    {
        Run(Recv(BlockOp.Write, 0, 1, fill: 3));
        _log.Dispose();
        SaveWithInitial();
        string path = Path.Combine(_dir, TraceFile.TraceName);
        byte[] bytes = File.ReadAllBytes(path);
        File.WriteAllBytes(path, bytes[..^5]);

        var e = Assert.Throws<InvalidDataException>(() => TraceFile.Load(_dir));
        Assert.Contains("inconsistent header", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_sparse_initial_copy_keeps_every_byte()
    {
        var content = new byte[3 * 4096 + 100];
        content.AsSpan(4096 + 7, 10).Fill(9);
        content[^1] = 1;
        string source = Path.Combine(_dir, "src.img");
        File.WriteAllBytes(source, content);

        TraceFile.CopyInitial(source, 0, _dir);

        Assert.Equal(content, File.ReadAllBytes(Path.Combine(_dir, TraceFile.InitialName)));
    }

    private sealed class NoCompletion : IRequestCompletion
    {
        public static readonly NoCompletion Instance = new();

        public void Complete(BlockRequest request, int result)
        {
        }
    }
}
