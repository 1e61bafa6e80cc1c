using System.Runtime.InteropServices;
using LoopOrder.Interop;
using LoopOrder.Queues.Backends;
using LoopOrder.Queues.Requests;
using LoopOrder.Queues.Tests.Dispatch;
using LoopOrder.Verification.Backends;
using LoopOrder.Verification.Faults;

namespace LoopOrder.Queues.Tests.Backends;

/// <summary>
/// The wrapper on its own, over a <see cref="ControlledBackend"/> that shows what reaches it: a
/// failed request never does, a short write sends only its prefix, and results come back from
/// Poll for the original request.
/// </summary>
public sealed unsafe class FaultInjectingBackendTests : IDisposable
{
    private const int EIO = (int)Errno.EIO;
    private const int ENOSPC = (int)Errno.ENOSPC;

    private readonly ControlledBackend _inner = new(1 << 20);
    private readonly NativeBuffers _buffers = new();
    private readonly List<(BlockRequest Request, int Result)> _landed = [];
    private readonly List<InjectedFault> _injected = [];
    private FaultInjectingBackend? _backend;
    private IBackendExecutor? _executor;

    public void Dispose()
    {
        _executor?.Dispose();
        _backend?.Dispose();
        _buffers.Dispose();
    }

    private IBackendExecutor Wrap(string spec)
    {
        _backend = new FaultInjectingBackend(_inner, FaultPlan.Parse(spec), _injected.Add);
        _executor = _backend.CreateExecutor(new Tap(_landed));
        return _executor;
    }

    private BlockRequest Request(BlockOp op, ulong sector, uint count, byte fill = 0)
    {
        int bytes = Math.Max(1, (int)count) * BlockRequest.SectorSize;
        nint buffer = _buffers.Allocate(bytes);
        new Span<byte>((void*)buffer, bytes).Fill(fill);
        var r = new BlockRequest(0, 0, new CountingCompletion());
        r.Prepare(op, RequestFlags.None, sector, count, op is BlockOp.Read or BlockOp.Write ? RequestBuffer.Memory(buffer, bytes) : RequestBuffer.None);
        return r;
    }

    [Theory]
    [InlineData("write:eio@1", BlockOp.Write, -EIO)]
    [InlineData("write:enospc@1", BlockOp.Write, -ENOSPC)]
    [InlineData("read:eio@1", BlockOp.Read, -EIO)]
    [InlineData("sync:eio@1", BlockOp.Flush, -EIO)]
    public void An_injected_error_never_reaches_the_inner_backend_and_is_reported_by_the_next_poll(string spec, BlockOp op, int errno)
    {
        _inner.Store.Bytes(0, 4096).Fill(0x11);
        IBackendExecutor e = Wrap(spec);
        BlockRequest r = op == BlockOp.Flush ? Request(op, 0, 0) : Request(op, 0, 8, fill: 0x77);

        e.Start(r);
        Assert.Equal(0, _inner.PendingCount);
        Assert.Empty(_landed); // not from Start: a report may start more requests
        e.Poll(block: false);

        Assert.Equal([(r, errno)], _landed);
        Assert.True(_inner.Store.Bytes(0, 4096).IndexOfAnyExcept((byte)0x11) < 0, "the store changed");
        if (op != BlockOp.Flush)
        {
            Assert.True(new Span<byte>((void*)r.Buffer.Address, r.ByteCount).IndexOfAnyExcept((byte)0x77) < 0, "the request's buffer changed");
        }

        InjectedFault f = Assert.Single(_injected);
        Assert.Equal((1L, op, errno), (f.Ordinal, f.Op, f.Reported));
        Assert.Equal(1, _backend!.Injected);
    }

    [Fact]
    public void Requests_the_plan_does_not_pick_pass_through_and_only_their_kind_counts()
    {
        IBackendExecutor e = Wrap("write:eio@2");
        BlockRequest w1 = Request(BlockOp.Write, 0, 8, 0xA1);
        BlockRequest read = Request(BlockOp.Read, 0, 8);
        BlockRequest flush = Request(BlockOp.Flush, 0, 0);
        BlockRequest discard = Request(BlockOp.Discard, 8, 8);
        BlockRequest w2 = Request(BlockOp.Write, 16, 8, 0xA2);
        foreach (BlockRequest r in new[] { w1, read, flush, discard })
        {
            e.Start(r);
        }

        Assert.Equal(4, _inner.PendingCount);
        e.Start(w2);
        Assert.Equal(4, _inner.PendingCount);
        while (_inner.CompleteOldest())
        {
        }

        e.Poll(block: false);
        Assert.Equal([(w1, 4096), (read, 4096), (flush, 0), (discard, 0), (w2, -EIO)], _landed);
        Assert.True(_inner.Store.Bytes(16 * 512, 4096).IndexOfAnyExcept((byte)0) < 0, "the failed write landed");
    }

    [Fact]
    public void A_short_write_lands_its_prefix_and_fails_the_original_with_EIO()
    {
        _inner.Store.Bytes(0, 32 * 512).Fill(0x11);
        IBackendExecutor e = Wrap("write:short@1");
        BlockRequest w = Request(BlockOp.Write, 0, 32, 0x22);

        e.Start(w);
        BlockRequest stand = Assert.Single(_inner.Pending);
        Assert.NotSame(w, stand);
        Assert.Equal(
            (BlockOp.Write, 0UL, 16u, RequestBufferKind.Memory, w.Buffer.Address, w.Buffer.Length),
            (stand.Op, stand.StartSector, stand.SectorCount, stand.Buffer.Kind, stand.Buffer.Address, stand.Buffer.Length));
        _inner.CompleteOldest();

        Assert.Equal([(w, -EIO)], _landed);
        Assert.True(_inner.Store.Bytes(0, 16 * 512).IndexOfAnyExcept((byte)0x22) < 0, "the prefix did not land");
        Assert.True(_inner.Store.Bytes(16 * 512, 16 * 512).IndexOfAnyExcept((byte)0x11) < 0, "more than the prefix landed");
        InjectedFault f = Assert.Single(_injected);
        Assert.Equal((new Fault(Errno.EIO, 16), -EIO), (f.Fault, f.Reported));
    }

    [Fact]
    public void A_short_write_reports_the_inner_error_when_its_prefix_fails()
    {
        IBackendExecutor e = Wrap("write:short@1");
        BlockRequest w = Request(BlockOp.Write, 0, 16, 0x22);
        e.Start(w);
        _inner.CompleteOldest(Fault.NoSpace); // not the fault's own EIO: the prefix's error wins
        Assert.Equal([(w, -ENOSPC)], _landed);
    }

    [Fact]
    public void A_one_sector_short_write_lands_nothing_and_fails_with_EIO()
    {
        IBackendExecutor e = Wrap("write:short@1");
        BlockRequest w = Request(BlockOp.Write, 0, 1, 0x22);
        e.Start(w);
        Assert.Equal(0, _inner.PendingCount);
        e.Poll(block: false);
        Assert.Equal([(w, -EIO)], _landed);
        Assert.True(_inner.Store.Bytes(0, 512).IndexOfAnyExcept((byte)0) < 0);
    }

    [Theory]
    [InlineData(1u, 0u)]
    [InlineData(2u, 1u)]
    [InlineData(8u, 4u)]
    [InlineData(15u, 7u)]
    [InlineData(16u, 8u)]
    [InlineData(24u, 8u)]
    [InlineData(33u, 16u)]
    [InlineData(1024u, 512u)]
    public void The_short_prefix_is_half_cut_to_whole_4k_when_it_can_be(uint sectors, uint prefix) =>
        Assert.Equal(prefix, Fault.ShortPrefixSectors(sectors));

    [Fact]
    public void Counting_is_shared_by_every_executor_of_the_backend()
    {
        IBackendExecutor e1 = Wrap("read:eio@2");
        using IBackendExecutor e2 = _backend!.CreateExecutor(new Tap(_landed));
        BlockRequest r1 = Request(BlockOp.Read, 0, 1);
        BlockRequest r2 = Request(BlockOp.Read, 0, 1);
        e1.Start(r1);
        e2.Start(r2);
        e2.Poll(block: false);
        Assert.Equal([(r2, -EIO)], _landed);
        Assert.Equal(1, _inner.PendingCount);
    }

    private sealed class Tap(List<(BlockRequest, int)> landed) : IBackendCompletion
    {
        public void Landed(BlockRequest request, int result) => landed.Add((request, result));
    }
}
