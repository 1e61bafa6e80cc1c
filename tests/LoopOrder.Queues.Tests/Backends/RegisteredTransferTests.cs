using System.Collections.Concurrent;
using LoopOrder.Interop;
using LoopOrder.Queues.Backends;
using LoopOrder.Queues.Dispatch;
using LoopOrder.Queues.Engine;
using LoopOrder.Queues.Requests;
using LoopOrder.Queues.Tests.Dispatch;

namespace LoopOrder.Queues.Tests.Backends;

/// <summary>
/// Zero copy seen from the engine: a request whose data is registered with the transport
/// (<see cref="IRegisteredData"/>) has its reads and writes moved by the transport, wherever the
/// engine released it, and the file's rules for such a transfer (<see cref="IRegisteredFile"/>)
/// are the executors' own. The transport here is a stand-in that moves the bytes with
/// pread/pwrite from pages of its own; the real one (the ublk queue's ring) runs in the VM suite.
/// </summary>
public sealed unsafe class RegisteredTransferTests : IDisposable
{
    private const int Page = 4096;
    private const long Size = 1 << 20;
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(60);

    private readonly FileTestDir _dir = new();
    private readonly NativeBuffers _pages = new();

    public void Dispose()
    {
        _pages.Dispose();
        _dir.Dispose();
    }

    [Fact]
    public void Reads_and_writes_go_to_the_transport_even_where_a_lane_would_take_them_and_flushes_to_the_worker()
    {
        using var backend = new FileBackend(new FileBackendOptions { Path = _dir.Create("disk", Size) });
        using BlockEngine engine = BlockEngine.Create(backend, new EngineOptions { Topology = NumaTopology.FromNodes([0]), PinWorkers = false });
        using IDisposable? lane = engine.AttachSubmitter();
        Assert.NotNull(lane);
        var transport = new StandInTransport();
        var done = new Acks();
        int me = Environment.CurrentManagedThreadId;

        byte[] a = FileHarness.Pattern(Page, Page, 7);
        BlockRequest write = Registered(transport, done, BlockOp.Write, RequestFlags.None, Page / 512, a);
        engine.Submit(write);
        Assert.Equal(Page, done.Wait(write));
        Assert.Equal(me, transport.StartedOn[write]);
        Assert.Same(backend, transport.FileOf[write]);
        Assert.Equal(0, ((SubmitterLane)lane).Writes);
        Assert.Equal(a, FileHarness.ReadFile(backend.Path, Page, Page));

        BlockRequest read = Registered(transport, done, BlockOp.Read, RequestFlags.None, Page / 512, new byte[Page]);
        engine.Submit(read);
        Assert.Equal(Page, done.Wait(read));
        Assert.Equal(a, transport.Bytes(read));

        BlockRequest flush = Registered(transport, done, BlockOp.Flush, RequestFlags.None, 0, []);
        engine.Submit(flush);
        Assert.Equal(0, done.Wait(flush));
        Assert.False(transport.StartedOn.ContainsKey(flush));
        Assert.True(engine.Shutdown(Deadline));
    }

    [Fact]
    public void Memory_the_transport_can_move_goes_to_it_over_an_O_DIRECT_file_and_to_the_engine_over_a_buffered_one()
    {
        byte[] a = FileHarness.Pattern(Page, Page, 11);
        foreach (bool direct in new[] { true, false })
        {
            using var backend = new FileBackend(new FileBackendOptions { Path = _dir.Create(direct ? "direct" : "buffered", Size), DirectIo = direct });
            Assert.Equal(direct, backend.PrefersTransportTransfers);
            using BlockEngine engine = BlockEngine.Create(backend, new EngineOptions { Topology = NumaTopology.FromNodes([0]), PinWorkers = false });
            var transport = new StandInTransport();
            var done = new Acks();

            BlockRequest write = InMemory(transport, done, BlockOp.Write, Page / 512, a);
            engine.Submit(write);
            Assert.Equal(Page, done.Wait(write));
            Assert.Equal(direct, transport.StartedOn.ContainsKey(write));
            Assert.Equal(a, FileHarness.ReadFile(backend.Path, Page, Page));

            BlockRequest read = InMemory(transport, done, BlockOp.Read, Page / 512, new byte[Page]);
            engine.Submit(read);
            Assert.Equal(Page, done.Wait(read));
            Assert.Equal(direct, transport.StartedOn.ContainsKey(read));
            Assert.Equal(a, transport.Bytes(read));
            Assert.True(engine.Shutdown(Deadline));
        }
    }

    [Fact]
    public void A_transfer_is_checked_continued_and_ended_by_the_executors_rules()
    {
        string path = _dir.Create("rules", Size);
        using var file = new FileBackend(new FileBackendOptions { Path = path });
        var transport = new StandInTransport();
        var done = new Acks();

        // Checked before a byte moves: past the end, and a write to a read-only file.
        BlockRequest past = Registered(transport, done, BlockOp.Write, RequestFlags.None, (Size / 512) - 4, new byte[Page]);
        Assert.Equal(Errno.EINVAL.ToResult(), file.CheckTransfer(past));
        using (var readOnly = new FileBackend(new FileBackendOptions { Path = _dir.Create("read-only", Size), ReadOnly = true }))
        {
            BlockRequest w = Registered(transport, done, BlockOp.Write, RequestFlags.None, 0, new byte[Page]);
            Assert.Equal(Errno.EROFS.ToResult(), readOnly.CheckTransfer(w));
        }

        // A short step continues from where it stopped, EAGAIN and EINTR are sent again, the last step ends it with the whole count.
        BlockRequest r = Registered(transport, done, BlockOp.Write, RequestFlags.None, 0, new byte[Page]);
        Assert.Equal(0, file.CheckTransfer(r));
        int result = 1024;
        Assert.False(file.TransferStepDone(r, ref result));
        Assert.Equal(1024, r.Progress);
        result = Errno.EAGAIN.ToResult();
        Assert.False(file.TransferStepDone(r, ref result));
        result = Errno.EINTR.ToResult();
        Assert.False(file.TransferStepDone(r, ref result));
        result = Page - 1024;
        Assert.True(file.TransferStepDone(r, ref result));
        Assert.Equal(Page, result);

        // End of file inside the device is a truncated file: EIO.
        BlockRequest read = Registered(transport, done, BlockOp.Read, RequestFlags.None, 0, new byte[Page]);
        result = 0;
        Assert.True(file.TransferStepDone(read, ref result));
        Assert.Equal(Errno.EIO.ToResult(), result);

        // A plain write's error is its own; a FUA write's latches the sync failure, as the executors do.
        BlockRequest plain = Registered(transport, done, BlockOp.Write, RequestFlags.None, 0, new byte[Page]);
        result = Errno.EIO.ToResult();
        Assert.True(file.TransferStepDone(plain, ref result));
        Assert.False(file.SyncFailed);
        BlockRequest fua = Registered(transport, done, BlockOp.Write, RequestFlags.Fua, 0, new byte[Page]);
        result = Errno.EIO.ToResult();
        Assert.True(file.TransferStepDone(fua, ref result));
        Assert.Equal(Errno.EIO.ToResult(), result);
        Assert.True(file.SyncFailed);
    }

    private BlockRequest Registered(StandInTransport transport, Acks done, BlockOp op, RequestFlags flags, long sector, byte[] data)
    {
        var r = new BlockRequest(0, 0, done);
        if (data.Length > 0)
        {
            nint pages = _pages.Allocate(data.Length);
            data.CopyTo(new Span<byte>((void*)pages, data.Length));
            transport.Pages[r] = pages;
        }

        // Registered whatever the op, the flush too: the dispatcher must route by op as well as by buffer.
        r.Prepare(op, flags, (ulong)sector, (uint)(data.Length / BlockRequest.SectorSize), RequestBuffer.Registered(transport, data.Length));
        return r;
    }

    /// <summary>A request whose data is in (page-aligned) memory the stand-in transport can also move.</summary>
    private BlockRequest InMemory(StandInTransport transport, Acks done, BlockOp op, long sector, byte[] data)
    {
        var r = new BlockRequest(0, 0, done);
        nint pages = _pages.Allocate(data.Length);
        data.CopyTo(new Span<byte>((void*)pages, data.Length));
        transport.Pages[r] = pages;
        r.Prepare(op, RequestFlags.None, (ulong)sector, (uint)(data.Length / BlockRequest.SectorSize), RequestBuffer.Memory(pages, data.Length, transport));
        return r;
    }

    /// <summary>Moves each request's bytes between pages of its own and the file, on the calling thread, in one step.</summary>
    private sealed class StandInTransport : IRegisteredData
    {
        public ConcurrentDictionary<BlockRequest, nint> Pages { get; } = new();

        public ConcurrentDictionary<BlockRequest, int> StartedOn { get; } = new();

        public ConcurrentDictionary<BlockRequest, IRegisteredFile> FileOf { get; } = new();

        public byte[] Bytes(BlockRequest r) => new Span<byte>((void*)Pages[r], r.ByteCount).ToArray();

        public void StartTransfer(BlockRequest request, IRegisteredFile file, IBackendCompletion completion)
        {
            StartedOn[request] = Environment.CurrentManagedThreadId;
            FileOf[request] = file;
            int result = file.CheckTransfer(request);
            if (result == 0)
            {
                do
                {
                    void* at = (byte*)Pages[request] + request.Progress;
                    nuint count = (nuint)(request.ByteCount - request.Progress);
                    long offset = request.ByteOffset + request.Progress;
                    result = (int)(request.Op == BlockOp.Write
                        ? FileDescriptor.TryPWrite(file.TransferFd, at, count, offset)
                        : ReadAt(file.TransferFd, at, (int)count, offset));
                }
                while (!file.TransferStepDone(request, ref result));
            }

            completion.Landed(request, result);
        }

        private static int ReadAt(int fd, void* at, int count, long offset)
        {
            using var handle = new Microsoft.Win32.SafeHandles.SafeFileHandle(fd, ownsHandle: false);
            return RandomAccess.Read(handle, new Span<byte>(at, count), offset);
        }
    }

    /// <summary>Acknowledgements, waited for one request at a time.</summary>
    private sealed class Acks : IRequestCompletion
    {
        private readonly ConcurrentDictionary<BlockRequest, int> _results = new();

        public void Complete(BlockRequest request, int result)
        {
            _results[request] = result;
            lock (this)
            {
                Monitor.PulseAll(this);
            }
        }

        public int Wait(BlockRequest request)
        {
            long deadline = Environment.TickCount64 + (long)Deadline.TotalMilliseconds;
            lock (this)
            {
                while (!_results.ContainsKey(request))
                {
                    Assert.True(Environment.TickCount64 < deadline, $"{request} was not acknowledged");
                    Monitor.Wait(this, 100);
                }
            }

            return _results[request];
        }
    }
}
