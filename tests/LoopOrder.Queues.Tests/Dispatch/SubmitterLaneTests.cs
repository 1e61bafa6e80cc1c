using System.Collections.Concurrent;
using LoopOrder.Interop;
using LoopOrder.Queues.Backends;
using LoopOrder.Queues.Dispatch;
using LoopOrder.Queues.Engine;
using LoopOrder.Queues.Ordering;
using LoopOrder.Queues.Requests;
using LoopOrder.Queues.Tests.Backends;

namespace LoopOrder.Queues.Tests.Dispatch;

/// <summary>
/// The submitting thread's lane (<see cref="SubmitterLane"/>): which requests run on it, which
/// still cross to the socket worker, and that what lands is the same either way.
/// </summary>
public sealed class SubmitterLaneTests
{
    private const int Page = 4096;
    private const uint PageSectors = 8;
    private const long Size = 1 << 20;
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(60);

    [Fact]
    public void A_plain_write_runs_on_the_thread_with_the_lane_and_is_acknowledged_before_submit_returns()
    {
        using var d = new Device();
        using SubmitterLane lane = Assert.IsType<SubmitterLane>(d.Engine.AttachSubmitter());
        int me = Environment.CurrentManagedThreadId;

        byte[] a = FileHarness.Pattern(0, Page, 1);
        BlockRequest w = d.Prepare(BlockOp.Write, RequestFlags.None, 0, a);
        d.Engine.Submit(w);

        // No wait: the write ran inside Submit, on this thread.
        Assert.Equal(Page, d.Completion.Results[w]);
        Assert.Equal(me, d.Completion.Threads[w]);
        Assert.Equal(1, lane.Writes);
        Assert.Equal(a, FileHarness.ReadFile(d.Path, 0, Page));
    }

    [Fact]
    public void Reads_flushes_FUA_writes_and_discards_still_go_to_the_socket_worker()
    {
        using var d = new Device();
        using SubmitterLane lane = Assert.IsType<SubmitterLane>(d.Engine.AttachSubmitter());
        int worker = d.Engine.SocketDispatcher!.AllWorkers.Single().ManagedThreadId;

        byte[] a = FileHarness.Pattern(0, Page, 2);
        BlockRequest fua = d.Prepare(BlockOp.Write, RequestFlags.Fua, 0, a);
        Assert.Equal(Page, d.Run(fua));
        BlockRequest read = d.Prepare(BlockOp.Read, RequestFlags.None, 0, new byte[Page]);
        Assert.Equal(Page, d.Run(read));
        BlockRequest flush = d.Prepare(BlockOp.Flush, RequestFlags.None, 0, []);
        Assert.Equal(0, d.Run(flush));
        BlockRequest discard = d.Prepare(BlockOp.Discard, RequestFlags.None, PageSectors, []);
        Assert.Equal(0, d.Run(discard, sectors: PageSectors));

        foreach (BlockRequest r in new[] { fua, read, flush, discard })
        {
            Assert.Equal(worker, d.Completion.Threads[r]);
        }

        Assert.Equal(0, lane.Writes);
        Assert.Equal(a, d.Bytes(read));
    }

    [Fact]
    public void Without_a_lane_or_after_it_is_disposed_or_when_turned_off_writes_go_to_the_worker()
    {
        using var d = new Device();
        int worker = d.Engine.SocketDispatcher!.AllWorkers.Single().ManagedThreadId;
        BlockRequest before = d.Prepare(BlockOp.Write, RequestFlags.None, 0, FileHarness.Pattern(0, Page, 3));
        Assert.Equal(Page, d.Run(before));
        Assert.Equal(worker, d.Completion.Threads[before]);

        SubmitterLane lane = Assert.IsType<SubmitterLane>(d.Engine.AttachSubmitter());
        lane.Dispose();
        BlockRequest after = d.Prepare(BlockOp.Write, RequestFlags.None, 0, FileHarness.Pattern(0, Page, 4));
        Assert.Equal(Page, d.Run(after));
        Assert.Equal(worker, d.Completion.Threads[after]);
        Assert.Equal(0, lane.Writes);

        using var off = new Device(new EngineOptions { SubmitterWrites = false, Topology = NumaTopology.FromNodes([0]), PinWorkers = false });
        Assert.Null(off.Engine.AttachSubmitter());
    }

    [Fact]
    public void A_lane_serves_only_its_own_engine_and_a_thread_holds_one_lane()
    {
        using var a = new Device();
        using var b = new Device();
        using SubmitterLane lane = Assert.IsType<SubmitterLane>(a.Engine.AttachSubmitter());
        Assert.Throws<InvalidOperationException>(() => a.Engine.AttachSubmitter());
        Assert.Throws<InvalidOperationException>(() => b.Engine.AttachSubmitter());

        BlockRequest w = b.Prepare(BlockOp.Write, RequestFlags.None, 0, FileHarness.Pattern(0, Page, 5));
        Assert.Equal(Page, b.Run(w));
        Assert.Equal(b.Engine.SocketDispatcher!.AllWorkers.Single().ManagedThreadId, b.Completion.Threads[w]);
        Assert.Equal(0, lane.Writes);
    }

    [Fact]
    public void Backends_whose_writes_wait_for_a_disk_give_no_lane()
    {
        using var dir = new FileTestDir();
        string path = dir.Create("direct", Size);
        using (var direct = BlockEngine.Create(new FileBackend(new FileBackendOptions { Path = path, DirectIo = true }), Options()))
        {
            Assert.Null(direct.AttachSubmitter());
        }

        using var inline = BlockEngine.Create(new MemoryBackend(Size), new EngineOptions { Inline = true });
        Assert.Null(inline.AttachSubmitter());
    }

    /// <summary>
    /// The memory target is the benchmarks' transport floor: its writes are copies that finish in
    /// the call, so they take the lane as buffered file writes do, and its reads still cross.
    /// </summary>
    [Fact]
    public void A_memory_backend_writes_on_the_lane_and_reads_on_the_worker()
    {
        using var d = new Device(memory: true);
        using SubmitterLane lane = Assert.IsType<SubmitterLane>(d.Engine.AttachSubmitter());
        int me = Environment.CurrentManagedThreadId;
        int worker = d.Engine.SocketDispatcher!.AllWorkers.Single().ManagedThreadId;

        byte[] a = FileHarness.Pattern(PageSectors, Page, 6);
        BlockRequest w = d.Prepare(BlockOp.Write, RequestFlags.None, PageSectors, a);
        d.Engine.Submit(w);
        Assert.Equal(Page, d.Completion.Results[w]);
        Assert.Equal(me, d.Completion.Threads[w]);
        Assert.Equal(1, lane.Writes);

        BlockRequest read = d.Prepare(BlockOp.Read, RequestFlags.None, PageSectors, new byte[Page]);
        Assert.Equal(Page, d.Run(read));
        Assert.Equal(worker, d.Completion.Threads[read]);
        Assert.Equal(a, d.Bytes(read));
    }

    /// <summary>
    /// Several threads, each with its lane, write overlapping ranges with flushes between, while
    /// the Sequencer holds and releases writes across them (a write released when another lands
    /// runs on the thread that landed it, nested in its poll). Every request is acknowledged once
    /// and the file ends as the last acknowledged writer of each page left it.
    /// </summary>
    [Theory]
    [InlineData(OrderingMode.Drain)]
    [InlineData(OrderingMode.Strict)]
    public void Concurrent_lanes_with_overlapping_writes_and_flushes_lose_and_reorder_nothing(OrderingMode mode)
    {
        const int Threads = 3;
        const int Rounds = 400;
        const int Pages = 4;
        using var d = new Device(Options(mode));
        long laneWrites = 0;
        var lastOfPage = new ConcurrentDictionary<int, (long Seq, byte Seed)>();
        Exception? failure = null;
        var threads = new Thread[Threads];
        for (int t = 0; t < Threads; t++)
        {
            int id = t;
            threads[t] = new Thread(() =>
            {
                try
                {
                    using SubmitterLane lane = Assert.IsType<SubmitterLane>(d.Engine.AttachSubmitter());
                    var rng = new Random(1000 + id);
                    for (int i = 0; i < Rounds; i++)
                    {
                        if (i % 16 == 15)
                        {
                            Assert.Equal(0, d.Run(d.Prepare(BlockOp.Flush, RequestFlags.None, 0, [])));
                            continue;
                        }

                        int page = rng.Next(Pages);
                        byte seed = (byte)((id * 64) + (i % 64));
                        BlockRequest w = d.Prepare(BlockOp.Write, RequestFlags.None, (ulong)page * PageSectors, FileHarness.Pattern((long)page * Page, Page, seed));
                        Assert.Equal(Page, d.Run(w));

                        // Acknowledged writes to one page land in receive order (D3), so the one
                        // received last among those acknowledged is what the page must hold.
                        lastOfPage.AddOrUpdate(page, (w.Seq, seed), (_, old) => w.Seq > old.Seq ? (w.Seq, seed) : old);
                    }

                    Interlocked.Add(ref laneWrites, lane.Writes);
                }
                catch (Exception e)
                {
                    failure = e;
                }
            });
            threads[t].Start();
        }

        foreach (Thread t in threads)
        {
            Assert.True(t.Join(Deadline), "a submitter hung");
        }

        Assert.Null(failure);
        Assert.True(d.Engine.WaitForIdle(Deadline));
        Assert.True(laneWrites > 0, "no write ran on a lane");
        Assert.Equal(0, d.Completion.Duplicates);
        foreach ((int page, (long _, byte seed)) in lastOfPage)
        {
            Assert.Equal(FileHarness.Pattern((long)page * Page, Page, seed), FileHarness.ReadFile(d.Path, (long)page * Page, Page));
        }
    }

    [Fact]
    public void A_lane_write_after_the_file_was_cut_fails_closed_and_never_regrows_the_file()
    {
        using var d = new Device();
        using SubmitterLane lane = Assert.IsType<SubmitterLane>(d.Engine.AttachSubmitter());
        Assert.Equal(Page, d.Run(d.Prepare(BlockOp.Write, RequestFlags.None, 0, FileHarness.Pattern(0, Page, 6))));
        FileHarness.Truncate(d.Path, Size / 2);

        // The guard rechecks the size at most once per interval per executor; the sleep only
        // makes sure the interval has passed, it measures nothing.
        Thread.Sleep(TimeSpan.FromMilliseconds(20));
        BlockRequest beyond = d.Prepare(BlockOp.Write, RequestFlags.None, (Size - Page) / 512, FileHarness.Pattern(Size - Page, Page, 7));
        Assert.Equal(Errno.EIO.ToResult(), d.Run(beyond));
        Assert.Equal(2, lane.Writes);
        Assert.Equal(Size / 2, new FileInfo(d.Path).Length);
    }

    private static EngineOptions Options(OrderingMode mode = OrderingMode.Drain) =>
        new() { Mode = mode, Topology = NumaTopology.FromNodes([0]), PinWorkers = false };

    /// <summary>A file-backed (or memory-backed) engine on one socket worker, with native buffers and a completion that notes each request's thread.</summary>
    private sealed unsafe class Device : IDisposable
    {
        private readonly FileTestDir _dir = new();
        private readonly NativeBuffers _buffers = new();

        public Device(EngineOptions? options = null, bool memory = false)
        {
            Path = _dir.Create("disk", Size);
            IBackend backend = memory ? new MemoryBackend(Size) : new FileBackend(new FileBackendOptions { Path = Path });
            Engine = BlockEngine.Create(backend, options ?? Options());
        }

        public string Path { get; }

        public BlockEngine Engine { get; }

        public ThreadNoting Completion { get; } = new();

        public BlockRequest Prepare(BlockOp op, RequestFlags flags, ulong sector, byte[] data)
        {
            nint buffer = data.Length == 0 ? 0 : _buffers.Allocate(data.Length);
            data.CopyTo(new Span<byte>((void*)buffer, data.Length));
            var r = new BlockRequest(0, 0, Completion);
            r.Prepare(op, flags, sector, (uint)(data.Length / BlockRequest.SectorSize), RequestBuffer.Memory(buffer, data.Length));
            return r;
        }

        /// <summary>Submits and waits; <paramref name="sectors"/> overrides the count for ops without data.</summary>
        public int Run(BlockRequest r, uint sectors = 0)
        {
            if (sectors != 0)
            {
                r.Prepare(r.Op, r.Flags, r.StartSector, sectors, RequestBuffer.None);
            }

            using var done = new ManualResetEventSlim();
            Completion.Waiters[r] = done;
            Engine.Submit(r);
            Assert.True(done.Wait(Deadline), $"{r} did not complete");
            return Completion.Results[r];
        }

        public byte[] Bytes(BlockRequest r) => new Span<byte>((void*)r.Buffer.Address, r.ByteCount).ToArray();

        public void Dispose()
        {
            Assert.True(Engine.Shutdown(Deadline));
            _buffers.Dispose();
            _dir.Dispose();
        }
    }

    /// <summary>Notes each request's result and the thread its acknowledgement came on.</summary>
    private sealed class ThreadNoting : IRequestCompletion
    {
        private int _duplicates;

        public ConcurrentDictionary<BlockRequest, int> Results { get; } = new();

        public ConcurrentDictionary<BlockRequest, int> Threads { get; } = new();

        public ConcurrentDictionary<BlockRequest, ManualResetEventSlim> Waiters { get; } = new();

        /// <summary>Acknowledgements of a request already acknowledged (and not resubmitted since).</summary>
        public int Duplicates => Volatile.Read(ref _duplicates);

        public void Complete(BlockRequest request, int result)
        {
            if (!Results.TryAdd(request, result))
            {
                Interlocked.Increment(ref _duplicates);
            }

            Threads[request] = Environment.CurrentManagedThreadId;
            if (Waiters.TryRemove(request, out ManualResetEventSlim? done))
            {
                done.Set();
            }
        }
    }
}
