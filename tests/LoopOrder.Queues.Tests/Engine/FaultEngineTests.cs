using LoopOrder.Interop;
using LoopOrder.Queues.Backends;
using LoopOrder.Queues.Dispatch;
using LoopOrder.Queues.Engine;
using LoopOrder.Queues.Ordering;
using LoopOrder.Queues.Requests;
using LoopOrder.Queues.Tests.Backends;
using LoopOrder.Queues.Tests.Dispatch;
using LoopOrder.Verification.Backends;
using LoopOrder.Verification.Faults;

namespace LoopOrder.Queues.Tests.Engine;

/// <summary>
/// Every fault kind through the whole engine (Sequencer, socket worker, io_uring file backend)
/// on a real file, one request at a time so the plan's ordinals are the test's: the failed
/// request gets its errno, every later flush fails, reads of other ranges work, and what was
/// acknowledged durable is in the file byte for byte. Each theory runs twice: writes through the
/// socket worker, and writes on the submitting thread's own lane (<see cref="SubmitterLane"/>),
/// which is how a ublk queue thread runs them.
/// </summary>
public sealed class FaultEngineTests
{
    private const int Page = 4096;
    private const uint PageSectors = 8;

    public static TheoryData<OrderingMode, bool> Modes => new()
    {
        { OrderingMode.Drain, false },
        { OrderingMode.Strict, false },
        { OrderingMode.None, false },
        { OrderingMode.Drain, true },
        { OrderingMode.Strict, true },
        { OrderingMode.None, true },
    };

    [Theory]
    [MemberData(nameof(Modes))]
    public void A_write_error_fails_that_write_and_every_later_flush_and_leaves_durable_data_alone(OrderingMode mode, bool lane)
    {
        foreach ((string spec, int errno) in new[] { ("write:eio@3", Errno.EIO.ToResult()), ("write:enospc@3", Errno.ENOSPC.ToResult()) })
        {
            using var d = new FaultyDevice(spec, mode, lane);
            byte[] a = d.Pattern(0x0A, 2 * Page);
            Assert.Equal(Page, d.Write(0, d.Slice(a, 0, Page)));
            Assert.Equal(Page, d.Write(PageSectors, d.Slice(a, Page, Page)));
            Assert.Equal(0, d.Flush());

            // Write 3, over the durable pages: its errno, and nothing of it reaches the file.
            Assert.Equal(errno, d.Write(0, d.Pattern(0x0B, 2 * Page)));
            Assert.Equal(Errno.EIO.ToResult(), d.Flush());
            Assert.Equal(Errno.EIO.ToResult(), d.Flush());

            // Writes go on (write 4, elsewhere) and read back; flushes stay failed.
            byte[] c = d.Pattern(0x0C, Page);
            Assert.Equal(Page, d.Write(64, c));
            Assert.Equal(c, d.Read(64, PageSectors));
            Assert.Equal(Errno.EIO.ToResult(), d.Flush());

            Assert.Equal(a, d.Read(0, 2 * PageSectors));
            Assert.Equal(a, d.FileBytes(0, 2 * Page));
            Assert.Equal(1, d.Faults.Injected);
            Assert.True(d.Engine.Sequencer.IsErrorLatched);
        }
    }

    [Theory]
    [MemberData(nameof(Modes))]
    public void A_short_write_is_an_EIO_never_a_success_and_lands_only_its_prefix(OrderingMode mode, bool lane)
    {
        using var d = new FaultyDevice("write:short@2", mode, lane);
        byte[] a = d.Pattern(0x0A, 4 * Page);
        Assert.Equal(4 * Page, d.Write(0, a));
        Assert.Equal(0, d.Flush());

        // Write 2 covers the last two durable pages and two beyond: the backend lands its first
        // half (2 pages, all over durable ones) and reports 8 KiB of 16.
        byte[] b = d.Pattern(0x0B, 4 * Page);
        Assert.Equal(Errno.EIO.ToResult(), d.Write(2 * PageSectors, b));
        Assert.Equal(Errno.EIO.ToResult(), d.Flush());

        byte[] expected = [.. a.AsSpan(0, 2 * Page), .. b.AsSpan(0, 2 * Page), .. new byte[2 * Page]];
        Assert.Equal(expected, d.Read(0, 6 * PageSectors));
        Assert.Equal(expected, d.FileBytes(0, 6 * Page));
        Assert.Equal(d.Slice(a, 0, 2 * Page), d.FileBytes(0, 2 * Page));
    }

    [Theory]
    [MemberData(nameof(Modes))]
    public void A_sync_error_fails_that_flush_and_every_later_one_even_when_the_plan_would_let_it_pass(OrderingMode mode, bool lane)
    {
        using var d = new FaultyDevice("sync:eio@2", mode, lane);
        byte[] a = d.Pattern(0x0A, Page);
        byte[] b = d.Pattern(0x0B, Page);
        Assert.Equal(Page, d.Write(0, a));
        Assert.Equal(0, d.Flush());
        Assert.Equal(Page, d.Write(PageSectors, b));
        Assert.Equal(Errno.EIO.ToResult(), d.Flush());

        // Sync 3 would pass the plan: only the latch fails it, without asking the backend.
        Assert.Equal(Errno.EIO.ToResult(), d.Flush());
        Assert.Equal(Errno.EIO.ToResult(), d.Flush());
        Assert.Equal(1, d.Faults.Injected);

        Assert.Equal(a, d.Read(0, PageSectors));
        Assert.Equal(b, d.Read(PageSectors, PageSectors));
        Assert.Equal([.. a, .. b], d.FileBytes(0, 2 * Page));
    }

    [Theory]
    [MemberData(nameof(Modes))]
    public void A_read_error_fails_that_read_only(OrderingMode mode, bool lane)
    {
        using var d = new FaultyDevice("read:eio@2", mode, lane);
        byte[] a = d.Pattern(0x0A, 2 * Page);
        Assert.Equal(2 * Page, d.Write(0, a));
        Assert.Equal(0, d.Flush());

        Assert.Equal(d.Slice(a, 0, Page), d.Read(0, PageSectors));
        (int result, byte[] untouched) = d.TryRead(PageSectors, PageSectors, fill: 0xEE);
        Assert.Equal(Errno.EIO.ToResult(), result);
        Assert.True(untouched.AsSpan().IndexOfAnyExcept((byte)0xEE) < 0, "the failed read filled its buffer");
        Assert.Equal(d.Slice(a, Page, Page), d.Read(PageSectors, PageSectors));

        // Nothing was lost: a failed read latches nothing.
        Assert.Equal(Page, d.Write(64, d.Pattern(0x0C, Page)));
        Assert.Equal(0, d.Flush());
        Assert.False(d.Engine.Sequencer.IsErrorLatched);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void A_failed_FUA_write_is_not_durable_and_latches(bool lane)
    {
        // A FUA write waits for the disk, so it goes to the worker even from a thread with a lane.
        using var d = new FaultyDevice("write:eio@2", OrderingMode.Drain, lane);
        byte[] a = d.Pattern(0x0A, Page);
        Assert.Equal(Page, d.Write(0, a, RequestFlags.Fua));
        Assert.Equal(Errno.EIO.ToResult(), d.Write(0, d.Pattern(0x0B, Page), RequestFlags.Fua));
        Assert.Equal(Errno.EIO.ToResult(), d.Flush());
        Assert.Equal(a, d.FileBytes(0, Page));
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Seeded_rate_faults_hit_exactly_the_writes_the_plan_names_and_leave_their_ranges_untouched(bool lane)
    {
        const int Writes = 64;
        using var d = new FaultyDevice("write:eio%30,write:enospc%10,seed=3", OrderingMode.Drain, lane);
        var plan = FaultPlan.Parse("write:eio%30,write:enospc%10,seed=3");
        for (int i = 0; i < Writes; i++)
        {
            int expected = plan.Decide(FaultTarget.Write, i + 1)?.Effect switch
            {
                FaultEffect.Eio => Errno.EIO.ToResult(),
                FaultEffect.Enospc => Errno.ENOSPC.ToResult(),
                _ => Page,
            };
            Assert.Equal(expected, d.Write((ulong)i * PageSectors, d.Pattern((byte)i, Page)));
        }

        int failed = 0;
        for (int i = 0; i < Writes; i++)
        {
            bool hit = plan.Decide(FaultTarget.Write, i + 1) is not null;
            failed += hit ? 1 : 0;
            Assert.Equal(hit ? new byte[Page] : d.Pattern((byte)i, Page), d.FileBytes((long)i * Page, Page));
        }

        Assert.InRange(failed, 1, Writes - 1);
        Assert.Equal(failed, d.Faults.Injected);
        Assert.Equal(Errno.EIO.ToResult(), d.Flush());
    }

    /// <summary>A file-backed engine with faults, driven one request at a time from the test thread.</summary>
    private sealed unsafe class FaultyDevice : IDisposable
    {
        private const long Size = 1 << 20;
        private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(60);
        private readonly FileTestDir _dir = new();
        private readonly NativeBuffers _buffers = new();
        private readonly string _path;

        /// <summary>The test thread's lane, when the device runs writes on it.</summary>
        private readonly SubmitterLane? _lane;

        public FaultyDevice(string spec, OrderingMode mode, bool lane)
        {
            _path = _dir.Create("disk", Size);
            Faults = new FaultInjectingBackend(new FileBackend(new FileBackendOptions { Path = _path }), FaultPlan.Parse(spec));
            Engine = BlockEngine.Create(Faults, new EngineOptions { Mode = mode, Topology = NumaTopology.FromNodes([0]), PinWorkers = false });
            if (lane)
            {
                _lane = Assert.IsType<SubmitterLane>(Engine.AttachSubmitter());
            }
        }

        public FaultInjectingBackend Faults { get; }

        public BlockEngine Engine { get; }

        public byte[] Pattern(byte seed, int length) => FileHarness.Pattern(seed * 7919L, length, seed);

        public byte[] Slice(byte[] bytes, int offset, int length) => bytes.AsSpan(offset, length).ToArray();

        public int Write(ulong sector, byte[] data, RequestFlags flags = RequestFlags.None)
        {
            nint buffer = _buffers.Allocate(data.Length);
            data.CopyTo(new Span<byte>((void*)buffer, data.Length));
            long before = _lane?.Writes ?? 0;
            int result = Run(BlockOp.Write, flags, sector, (uint)(data.Length / BlockRequest.SectorSize), RequestBuffer.Memory(buffer, data.Length));

            // Nothing else is in flight, so the Sequencer releases the write at once, on this
            // thread: with a lane, every write without FUA runs there, and a FUA write never does.
            long expected = _lane is not null && (flags & RequestFlags.Fua) == 0 ? 1 : 0;
            Assert.Equal(expected, (_lane?.Writes ?? 0) - before);
            return result;
        }

        public int Flush() => Run(BlockOp.Flush, RequestFlags.None, 0, 0, RequestBuffer.None);

        public (int Result, byte[] Bytes) TryRead(ulong sector, uint count, byte fill = 0)
        {
            int bytes = (int)count * BlockRequest.SectorSize;
            nint buffer = _buffers.Allocate(bytes);
            new Span<byte>((void*)buffer, bytes).Fill(fill);
            int result = Run(BlockOp.Read, RequestFlags.None, sector, count, RequestBuffer.Memory(buffer, bytes));
            return (result, new Span<byte>((void*)buffer, bytes).ToArray());
        }

        public byte[] Read(ulong sector, uint count)
        {
            (int result, byte[] bytes) = TryRead(sector, count);
            Assert.Equal(bytes.Length, result);
            return bytes;
        }

        /// <summary>The backing file's bytes, read past the engine.</summary>
        public byte[] FileBytes(long offset, int length) => FileHarness.ReadFile(_path, offset, length);

        public void Dispose()
        {
            _lane?.Dispose();
            Assert.True(Engine.Shutdown(Deadline));
            _buffers.Dispose();
            _dir.Dispose();
        }

        private int Run(BlockOp op, RequestFlags flags, ulong sector, uint count, RequestBuffer buffer)
        {
            var done = new CountingCompletion { Target = 1 };
            var r = new BlockRequest(0, 0, done);
            r.Prepare(op, flags, sector, count, buffer);
            Engine.Submit(r);
            Assert.True(done.Reached.Wait(Deadline), $"{r} did not complete");
            return done.Results[r];
        }
    }
}
