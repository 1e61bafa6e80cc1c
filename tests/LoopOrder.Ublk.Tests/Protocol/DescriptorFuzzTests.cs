using System.Buffers.Binary;
using System.Globalization;
using System.Runtime.InteropServices;
using LoopOrder.Interop;
using LoopOrder.Queues.Backends;
using LoopOrder.Queues.Dispatch;
using LoopOrder.Queues.Engine;
using LoopOrder.Queues.Requests;
using LoopOrder.Ublk.Protocol;
using LoopOrder.Ublk.Queue;
using LoopOrder.Ublk.Structs;
using Xunit.Abstractions;

namespace LoopOrder.Ublk.Tests.Protocol;

/// <summary>
/// Malformed requests (issue 7, item 5): random <c>ublksrv_io_desc</c> descriptors, most of them
/// wrong in some way, decoded by the queue thread's own <see cref="UblkQueue.PrepareFromDescriptor"/>
/// into a threaded <see cref="BlockEngine"/> over a real <see cref="FileBackend"/>, checked against
/// a byte-exact model of the file.
/// </summary>
/// <remarks>
/// <para>
/// What each descriptor must get (the engine's contract, spelled out here independently of
/// <see cref="BlockRequest.CheckBounds"/>): an op the engine does not serve (WRITE_SAME, zone ops,
/// undefined codes) fails with EOPNOTSUPP; a served op with zero length, any sector outside the
/// device (start past the end, a run straddling it, a start+count that wraps 2^64), a read or
/// write larger than its tag's buffer, or sectors not on whole logical blocks, fails with EINVAL;
/// the flag bits never matter for validity (unknown ones are ignored); everything else succeeds
/// with its byte count (reads, writes) or 0, reads return exactly the model's bytes, and the file
/// equals the model byte for byte, at the same size, at the end and along the way.
/// </para>
/// <para>
/// Seeded: a failure names the seed, the request number and the descriptor; run one seed again
/// with LOOPORDER_FUZZ_SEED=S (and LOOPORDER_FUZZ_REQUESTS=N for a longer run). Requests are
/// submitted in batches of up to a queue depth, in flight together across the engine's workers;
/// the model is exact because the engine lands overlapping writes in receive order and makes a
/// read wait for overlapping earlier writes, and a batch never holds a write overlapping an
/// earlier read of the same batch (the one order the engine leaves open).
/// </para>
/// </remarks>
public sealed class DescriptorFuzzTests(ITestOutputHelper output)
{
    private const int SectorSize = BlockRequest.SectorSize;

    /// <summary>A 4 MiB device: big enough for many disjoint requests, small enough to compare whole in a millisecond.</summary>
    private const int DeviceBytes = 4 << 20;

    private const ulong CapacitySectors = DeviceBytes / SectorSize;

    /// <summary>Tags in flight together, as a ublk queue of this depth would have.</summary>
    private const int Depth = 16;

    /// <summary>Each tag's buffer: 64 KiB, so reads and writes past it are easy to draw.</summary>
    private const int BufferBytes = 64 * 1024;

    private const int DefaultRequests = 12_000;

    private static readonly TimeSpan HangLimit = TimeSpan.FromSeconds(60);

    /// <summary>
    /// Two block sizes on tmpfs (where a sync is free, so thousands of requests take seconds; its
    /// lack of FALLOC_FL_ZERO_RANGE also drives the zero-writing fallback), and a shorter run on
    /// the ordinary temp directory's filesystem (ext4 here: real syncs, ZERO_RANGE and punching).
    /// With <paramref name="lane"/> the submitting thread holds a lane, as a ublk queue thread
    /// does, so buffered writes run on it; without, every request crosses to the socket worker.
    /// </summary>
    [Theory]
    [InlineData(512, 20260701, true, DefaultRequests, true)]
    [InlineData(4096, 20260702, true, DefaultRequests, false)]
    [InlineData(4096, 20260703, false, DefaultRequests / 4, true)]
    public unsafe void Random_descriptors_fail_exactly_when_malformed_and_the_file_matches_the_model(int blockSize, int defaultSeed, bool tmpfs, int defaultRequests, bool lane)
    {
        int seed = EnvInt("LOOPORDER_FUZZ_SEED") ?? defaultSeed;
        int requests = EnvInt("LOOPORDER_FUZZ_REQUESTS") ?? defaultRequests;
        var random = new Random(seed);

        using TempDisk disk = new(DeviceBytes, random, tmpfs);
        output.WriteLine($"seed {seed}, {requests} requests, block size {blockSize}, file {disk.Path}");
        byte[] model = (byte[])disk.Initial.Clone();
        using var backend = new FileBackend(new FileBackendOptions { Path = disk.Path });
        using var engine = BlockEngine.Create(backend, new EngineOptions
        {
            LogicalBlockSize = blockSize,
            Topology = NumaTopology.FromNodes([0]),
            PinWorkers = false,
            OwnsBackend = false,
        });
        using var tags = new TagSet(Depth, BufferBytes);
        using IDisposable? submitterLane = lane ? engine.AttachSubmitter() : null;
        Assert.Equal(lane, submitterLane is not null);

        var batch = new List<Planned>(Depth);
        var counts = new Dictionary<string, int>();
        for (int n = 0; n < requests; n++)
        {
            ublksrv_io_desc d = Draw(random, blockSize);
            Planned p = Plan(n, d, blockSize);
            if (batch.Count == Depth || (p.Expected >= 0 && p.IsWriteClass && batch.Exists(b => b.Expected > 0 && b.Op == BlockOp.Read && p.Overlaps(b))))
            {
                Run(engine, tags, batch, seed, blockSize);
                batch.Clear();
            }

            int tag = batch.Count;
            nint buffer = tags.Buffer(tag);
            if (p.Op == BlockOp.Write)
            {
                random.NextBytes(new Span<byte>((void*)buffer, BufferBytes));
            }

            // The model changes as the engine will: in receive order.
            if (p.Expected >= 0)
            {
                Apply(model, p, buffer);
            }

            UblkQueue.PrepareFromDescriptor(tags.Requests[tag], d, RequestBuffer.Memory(buffer, BufferBytes));
            batch.Add(p);
            string kind = p.Expected switch { -(int)Errno.EINVAL => "EINVAL", -(int)Errno.EOPNOTSUPP => "EOPNOTSUPP", _ => p.Op.ToString() };
            counts[kind] = counts.GetValueOrDefault(kind) + 1;

            if (n % 2000 == 1999)
            {
                Run(engine, tags, batch, seed, blockSize);
                batch.Clear();
                AssertFileEqualsModel(disk.Path, model, $"seed {seed} after request #{n}");
            }
        }

        Run(engine, tags, batch, seed, blockSize);
        long laneWrites = (submitterLane as SubmitterLane)?.Writes ?? 0;
        submitterLane?.Dispose();
        Assert.True(engine.Shutdown(HangLimit));
        AssertFileEqualsModel(disk.Path, model, $"seed {seed} at the end");
        Assert.True(lane == laneWrites > 0, $"{laneWrites} writes ran on the lane");
        Assert.False(backend.IsTruncated);
        output.WriteLine(string.Join(", ", counts.OrderBy(c => c.Key, StringComparer.Ordinal).Select(c => $"{c.Key} {c.Value}")));

        // The draw must have covered what it is for, or the test proves little.
        Assert.True(counts.GetValueOrDefault("EINVAL") > requests / 5, "too few malformed requests drawn");
        Assert.True(counts.GetValueOrDefault("EOPNOTSUPP") > requests / 50, "too few unserved ops drawn");
        Assert.True(counts.GetValueOrDefault(nameof(BlockOp.Write)) > requests / 10, "too few valid writes drawn");
        Assert.True(counts.GetValueOrDefault(nameof(BlockOp.Read)) > requests / 10, "too few valid reads drawn");
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public unsafe void A_backing_file_truncated_under_the_engine_fails_every_later_request_with_EIO_and_stays_cut(bool lane)
    {
        var random = new Random(7);
        using TempDisk disk = new(DeviceBytes, random, tmpfs: true);
        using var backend = new FileBackend(new FileBackendOptions { Path = disk.Path });
        var reported = new List<long>();
        backend.Truncated = size =>
        {
            lock (reported)
            {
                reported.Add(size);
            }
        };
        using var engine = BlockEngine.Create(backend, new EngineOptions
        {
            Topology = NumaTopology.FromNodes([0]),
            PinWorkers = false,
            OwnsBackend = false,
        });
        using var tags = new TagSet(Depth, BufferBytes);
        using IDisposable? submitterLane = lane ? engine.AttachSubmitter() : null;
        const long cut = DeviceBytes / 2;
        using (SafeFileDescriptor fd = FileDescriptor.Open(disk.Path, OpenFlags.ReadWrite))
        {
            FileDescriptor.Truncate(fd, cut);
        }

        const ulong beyond = (cut / SectorSize) + 128;
        Assert.Equal(Errno.EIO.ToResult(), Submit(engine, tags, UblkIoOp.Read, beyond, 8));
        Assert.True(backend.IsTruncated);

        // Writes past the cut (which the loop driver would let re-extend the file), then every
        // other kind of request, below the cut too: the device is closed.
        for (int i = 0; i < 64; i++)
        {
            Assert.Equal(Errno.EIO.ToResult(), Submit(engine, tags, UblkIoOp.Write | (i % 2 == 0 ? UblkIoFlags.Fua : 0), beyond + (ulong)(i * 8), 8));
        }

        Assert.Equal(Errno.EIO.ToResult(), Submit(engine, tags, UblkIoOp.Write, CapacitySectors - 8, 8));
        Assert.Equal(Errno.EIO.ToResult(), Submit(engine, tags, UblkIoOp.WriteZeroes | UblkIoFlags.NoUnmap, beyond, 64));
        Assert.Equal(Errno.EIO.ToResult(), Submit(engine, tags, UblkIoOp.Read, 0, 8));
        Assert.Equal(Errno.EIO.ToResult(), Submit(engine, tags, UblkIoOp.Flush, 0, 0));
        Assert.Equal(lane ? 33 : 0, (submitterLane as SubmitterLane)?.Writes ?? 0);
        submitterLane?.Dispose();
        Assert.True(engine.Shutdown(HangLimit));

        Assert.Equal(cut, new FileInfo(disk.Path).Length);
        AssertFileEqualsModel(disk.Path, disk.Initial.AsSpan(0, (int)cut).ToArray(), "below the cut");
        Assert.Equal([cut], reported);
    }

    /// <summary>One request through the decoder and the engine, waited for.</summary>
    private static int Submit(BlockEngine engine, TagSet tags, uint opFlags, ulong start, uint sectors)
    {
        ublksrv_io_desc d = Descriptor(opFlags, sectors, start);
        UblkQueue.PrepareFromDescriptor(tags.Requests[0], d, RequestBuffer.Memory(tags.Buffer(0), BufferBytes));
        tags.Expect(1);
        engine.Submit(tags.Requests[0]);
        Assert.True(tags.Done.Wait(HangLimit), "request did not complete");
        return tags.Results[0];
    }

    private static unsafe void Run(BlockEngine engine, TagSet tags, List<Planned> batch, int seed, int blockSize)
    {
        if (batch.Count == 0)
        {
            return;
        }

        tags.Expect(batch.Count);
        for (int t = 0; t < batch.Count; t++)
        {
            engine.Submit(tags.Requests[t]);
        }

        Assert.True(tags.Done.Wait(HangLimit), $"seed {seed}: a batch did not complete");
        for (int t = 0; t < batch.Count; t++)
        {
            Planned p = batch[t];
            int result = tags.Results[t];
            if (result != p.Expected)
            {
                Assert.Fail($"seed {seed}, block size {blockSize}, request #{p.Index} {p}: result {result}, expected {p.Expected}");
            }

            if (p.Op == BlockOp.Read && p.Expected > 0)
            {
                var got = new ReadOnlySpan<byte>((void*)tags.Buffer(t), p.Expected);
                int at = got.CommonPrefixLength(p.ReadExpect);
                if (at != p.Expected)
                {
                    Assert.Fail($"seed {seed}, block size {blockSize}, request #{p.Index} {p}: read differs from the model at byte {at}");
                }
            }
        }
    }

    /// <summary>A descriptor, mostly wrong: every field drawn from cases that sit on or past a boundary.</summary>
    private static ublksrv_io_desc Draw(Random random, int blockSize)
    {
        uint blockSectors = (uint)(blockSize / SectorSize);
        int o = random.Next(100);
        uint op = o switch
        {
            < 29 => UblkIoOp.Read,
            < 58 => UblkIoOp.Write,
            < 60 => UblkIoOp.Flush, // few: each is an fdatasync
            < 70 => UblkIoOp.Discard,
            < 80 => UblkIoOp.WriteZeroes,
            < 84 => 4, // WRITE_SAME: defined by the kernel, never sent, not served
            < 88 => (uint)random.Next(10, 19), // the zone ops and their neighbours
            _ => (uint)random.Next(256) is var x && x is not (0 or 1 or 2 or 3 or 5) ? x : 255,
        };

        uint flags = random.Next(3) switch
        {
            0 => 0,
            1 => (uint)random.Next(1 << 8) << 8 & (UblkIoFlags.NoUnmap | UblkIoFlags.FailfastDev | UblkIoFlags.FailfastDriver | UblkIoFlags.FailfastTransport | UblkIoFlags.Meta),
            _ => (uint)random.NextInt64(0, 1L << 32) & 0xFFFF_FF00, // every bit above the op, known or not
        };

        // FUA on a few only: each is a real sync, and syncs are what would make this slow.
        flags = random.Next(25) == 0 ? flags | UblkIoFlags.Fua : flags & ~UblkIoFlags.Fua;

        uint maxBufferSectors = BufferBytes / SectorSize;
        uint count;
        ulong start;
        switch (random.Next(20))
        {
            case < 9:
                // Plausible: whole blocks, inside the device and the buffer; the common case.
                count = blockSectors * (uint)random.Next(1, (int)(maxBufferSectors / blockSectors) + 1);
                start = blockSectors * (ulong)random.NextInt64(0, (long)((CapacitySectors - count) / blockSectors) + 1);
                break;
            case 9:
                // Right at the end of the device.
                count = blockSectors * (uint)random.Next(1, 9);
                start = CapacitySectors - count;
                break;
            case 10:
                count = 0;
                start = (ulong)random.NextInt64(0, (long)CapacitySectors);
                break;
            case 11:
                // Starts at or past the end.
                count = blockSectors * (uint)random.Next(1, 9);
                start = CapacitySectors + (random.Next(2) == 0 ? 0 : (ulong)random.NextInt64(0, long.MaxValue));
                break;
            case 12:
                // Straddles the end.
                count = blockSectors * (uint)random.Next(2, 17);
                start = CapacitySectors - (blockSectors * (ulong)random.Next(1, (int)(count / blockSectors)));
                break;
            case 13:
                // start + count wraps past 2^64.
                count = (uint)random.Next(1, 4096);
                start = ulong.MaxValue - (ulong)random.Next(0, (int)count);
                break;
            case 14:
                // Huge counts: larger than the device, or than any int byte count.
                count = random.Next(4) switch { 0 => uint.MaxValue, 1 => 1u << 31, 2 => (uint)CapacitySectors + blockSectors, _ => (uint)random.NextInt64(1L << 22, 1L << 32) };
                start = (ulong)random.Next(0, 64) * blockSectors;
                break;
            case 15:
                // Past the tag's buffer (for reads and writes), inside the device (fine for discards).
                count = maxBufferSectors + (blockSectors * (uint)random.Next(1, 64));
                start = blockSectors * (ulong)random.Next(0, 256);
                break;
            case 16:
                // Large discards and write-zeroes, up to the whole device.
                count = blockSectors * (uint)random.NextInt64(1, (long)(CapacitySectors / blockSectors) + 1);
                start = 0;
                break;
            default:
                // Any 512-byte multiple: not on whole blocks when the block size is 4096.
                count = (uint)random.Next(1, (int)maxBufferSectors + 1);
                start = (ulong)random.NextInt64(0, (long)(CapacitySectors - count) + 1);
                break;
        }

        return Descriptor(op | flags, count, start);
    }

    private static ublksrv_io_desc Descriptor(uint opFlags, uint sectors, ulong start)
    {
        // Laid out as the kernel writes it, from raw little-endian bytes.
        Span<byte> raw = stackalloc byte[ublksrv_io_desc.Size];
        BinaryPrimitives.WriteUInt32LittleEndian(raw, opFlags);
        BinaryPrimitives.WriteUInt32LittleEndian(raw[4..], sectors);
        BinaryPrimitives.WriteUInt64LittleEndian(raw[8..], start);
        BinaryPrimitives.WriteUInt64LittleEndian(raw[16..], 0xdead_0000);
        return MemoryMarshal.Read<ublksrv_io_desc>(raw);
    }

    /// <summary>What the descriptor must get: the contract in the type remarks, written out on its own.</summary>
    private static Planned Plan(int index, in ublksrv_io_desc d, int blockSize)
    {
        uint op = d.op_flags & 0xFF;
        ulong start = d.start_sector;
        uint count = d.nr_sectors;
        ulong blockSectors = (ulong)(blockSize / SectorSize);
        int expected;
        BlockOp kind = (BlockOp)op;
        if (op is not (UblkIoOp.Read or UblkIoOp.Write or UblkIoOp.Flush or UblkIoOp.Discard or UblkIoOp.WriteZeroes))
        {
            expected = Errno.EOPNOTSUPP.ToResult();
        }
        else if (op == UblkIoOp.Flush)
        {
            expected = 0;
        }
        else
        {
            bool insideDevice = count > 0 && start < CapacitySectors && count <= CapacitySectors - start;
            bool wholeBlocks = start % blockSectors == 0 && count % blockSectors == 0;
            bool fitsBuffer = op is not (UblkIoOp.Read or UblkIoOp.Write) || (ulong)count * SectorSize <= BufferBytes;
            expected = !(insideDevice && wholeBlocks && fitsBuffer) ? Errno.EINVAL.ToResult()
                : op is UblkIoOp.Read or UblkIoOp.Write ? (int)(count * SectorSize)
                : 0;
        }

        return new Planned(index, kind, d.op_flags, start, count, expected);
    }

    private static unsafe void Apply(byte[] model, Planned p, nint buffer)
    {
        int offset = (int)(p.Start * SectorSize);
        int bytes = (int)(p.Count * SectorSize);
        switch (p.Op)
        {
            case BlockOp.Read:
                p.ReadExpect = model.AsSpan(offset, bytes).ToArray();
                break;
            case BlockOp.Write:
                new ReadOnlySpan<byte>((void*)buffer, bytes).CopyTo(model.AsSpan(offset, bytes));
                break;
            case BlockOp.Discard:
            case BlockOp.WriteZeroes:
                model.AsSpan(offset, bytes).Clear();
                break;
        }
    }

    private static void AssertFileEqualsModel(string path, byte[] model, string where)
    {
        Assert.Equal(model.Length, new FileInfo(path).Length);
        byte[] file = new byte[model.Length];
        using (SafeFileDescriptor fd = FileDescriptor.Open(path, OpenFlags.ReadOnly))
        {
            FileDescriptor.PReadExactly(fd, file, 0);
        }

        int at = file.AsSpan().CommonPrefixLength(model);
        if (at != model.Length)
        {
            Assert.Fail($"{where}: the file differs from the model at byte {at} (sector {at / SectorSize})");
        }
    }

    private static int? EnvInt(string name) =>
        int.TryParse(Environment.GetEnvironmentVariable(name), NumberStyles.Integer, CultureInfo.InvariantCulture, out int v) ? v : null;

    /// <summary>One drawn request and what it must get.</summary>
    private sealed record Planned(int Index, BlockOp Op, uint OpFlags, ulong Start, uint Count, int Expected)
    {
        public bool IsWriteClass => Op is BlockOp.Write or BlockOp.Discard or BlockOp.WriteZeroes;

        /// <summary>For a valid read: the model's bytes when it was received.</summary>
        public byte[] ReadExpect { get; set; } = [];

        public bool Overlaps(Planned other) => Start < other.Start + other.Count && other.Start < Start + Count;

        public override string ToString() =>
            string.Create(CultureInfo.InvariantCulture, $"op_flags 0x{OpFlags:x8} start_sector {Start} nr_sectors {Count}");
    }

    /// <summary>Per tag a request slot and a page-aligned buffer, and the completions of a batch.</summary>
    private sealed unsafe class TagSet : IRequestCompletion, IDisposable
    {
        private readonly byte* _buffers;
        private readonly int _bufferBytes;
        private int _pending;

        public TagSet(int depth, int bufferBytes)
        {
            _bufferBytes = bufferBytes;
            _buffers = (byte*)NativeMemory.AlignedAlloc((nuint)(depth * bufferBytes), 4096);
            Requests = new BlockRequest[depth];
            Results = new int[depth];
            for (int t = 0; t < depth; t++)
            {
                Requests[t] = new BlockRequest(0, t, this);
            }
        }

        public BlockRequest[] Requests { get; }

        public int[] Results { get; }

        public ManualResetEventSlim Done { get; } = new();

        public nint Buffer(int tag) => (nint)(_buffers + ((nint)tag * _bufferBytes));

        public void Expect(int count)
        {
            Done.Reset();
            Volatile.Write(ref _pending, count);
        }

        public void Complete(BlockRequest request, int result)
        {
            Results[request.Tag] = result;
            if (Interlocked.Decrement(ref _pending) == 0)
            {
                Done.Set();
            }
        }

        public void Dispose()
        {
            NativeMemory.AlignedFree(_buffers);
            Done.Dispose();
        }
    }

    /// <summary>A scratch backing file filled with random bytes; <see cref="Initial"/> is a copy of them.</summary>
    private sealed class TempDisk : IDisposable
    {
        /// <summary>tmpfs: in /dev/shm when the machine has it (else the temp directory).</summary>
        private const string Shm = "/dev/shm";

        public TempDisk(int bytes, Random random, bool tmpfs = false)
        {
            string dir = tmpfs && Directory.Exists(Shm) ? Shm : System.IO.Path.GetTempPath();
            Path = System.IO.Path.Combine(dir, $"loop-order-fuzz-{Environment.ProcessId}-{Guid.NewGuid():N}.img");
            Initial = new byte[bytes];
            random.NextBytes(Initial);
            File.WriteAllBytes(Path, Initial);
        }

        public string Path { get; }

        public byte[] Initial { get; }

        public void Dispose() => File.Delete(Path);
    }
}
