using LoopOrder.Interop;
using LoopOrder.Queues.Backends;
using LoopOrder.Queues.Engine;
using LoopOrder.Queues.Ordering;
using LoopOrder.Queues.Requests;
using LoopOrder.Queues.Tests.Dispatch;
using LoopOrder.Verification.Backends;
using LoopOrder.Verification.Faults;

namespace LoopOrder.Queues.Tests.Engine;

/// <summary>
/// <see cref="BlockEngine.Snapshot"/> through the whole engine (socket workers) with a fake cut, a
/// copy of the in-memory device: the copy holds every write acknowledged before the call and no
/// write submitted during the cut, which waits (held) and lands after; a failed sync refuses the
/// snapshot without cutting and releases the writes.
/// </summary>
public sealed unsafe class SnapshotEngineTests
{
    private static readonly TimeSpan HangLimit = TimeSpan.FromSeconds(60);

    [Theory]
    [InlineData(OrderingMode.Drain)]
    [InlineData(OrderingMode.Strict)]
    [InlineData(OrderingMode.None)]
    public void The_cut_holds_every_acknowledged_write_and_none_submitted_during_it(OrderingMode mode)
    {
        var memory = new MemoryBackend(1 << 20);
        using var engine = BlockEngine.Create(memory, new EngineOptions { Mode = mode, PinWorkers = false });
        using var buffers = new NativeBuffers();
        var completion = new CountingCompletion();
        BlockRequest before = Write(buffers, completion, 0, 0x5A);
        completion.Target = 1;
        engine.Submit(before);
        Assert.True(completion.Reached.Wait(HangLimit));

        byte[]? image = null;
        BlockRequest during = Write(buffers, completion, 1, 0xA5);
        SnapshotBarrierResult result = engine.Snapshot(() =>
        {
            engine.Submit(during);
            image = memory.Store.Bytes(0, 1 << 20).ToArray();

            // Held behind the barrier: it cannot have been acknowledged (nor landed) yet.
            Assert.False(completion.Results.ContainsKey(during));
        }, HangLimit);

        Assert.True(engine.WaitForIdle(HangLimit));

        // Idle counts a request out before its acknowledgement runs (outside the Sequencer's lock).
        Assert.True(SpinWait.SpinUntil(() => completion.Results.ContainsKey(during), HangLimit));
        Assert.Equal(4096, completion.Results[during]);
        Assert.NotNull(image);
        Assert.All(image.AsSpan(0, 4096).ToArray(), b => Assert.Equal(0x5A, b));
        Assert.All(image.AsSpan(4096, 4096).ToArray(), b => Assert.Equal(0, b)); // not in the snapshot
        Assert.All(memory.Store.Bytes(4096, 4096).ToArray(), b => Assert.Equal(0xA5, b)); // but in the device
        Assert.True(result.BarrierSequence > before.Seq);
        Assert.True(result.WritesHeld >= result.Drain + result.Cut);
        Assert.False(engine.Sequencer.HasBarrier);
    }

    [Fact]
    public void A_failed_sync_refuses_the_snapshot_cuts_nothing_and_releases_the_writes()
    {
        var faulty = new FaultInjectingBackend(new MemoryBackend(1 << 20), FaultPlan.Parse("sync:eio@1"));
        using var engine = BlockEngine.Create(faulty, new EngineOptions { PinWorkers = false });
        using var buffers = new NativeBuffers();
        var completion = new CountingCompletion();
        bool cut = false;
        BlockRequest during = Write(buffers, completion, 1, 0xA5);
        ErrnoException e = Assert.Throws<ErrnoException>(() => engine.Snapshot(() => cut = true, HangLimit));
        Assert.Equal(Errno.EIO, e.Errno);
        Assert.False(cut);
        Assert.False(engine.Sequencer.HasBarrier);
        engine.Submit(during);
        Assert.True(engine.WaitForIdle(HangLimit));

        // Idle counts a request out before its acknowledgement runs (outside the Sequencer's lock).
        Assert.True(SpinWait.SpinUntil(() => completion.Results.ContainsKey(during), HangLimit));
        Assert.Equal(4096, completion.Results[during]);
    }

    [Fact]
    public void A_failing_cut_still_releases_the_held_writes()
    {
        using var engine = BlockEngine.Create(new MemoryBackend(1 << 20), new EngineOptions { PinWorkers = false });
        using var buffers = new NativeBuffers();
        var completion = new CountingCompletion();
        BlockRequest during = Write(buffers, completion, 1, 0xA5);
        Assert.Throws<IOException>(() => engine.Snapshot(() =>
        {
            engine.Submit(during);
            throw new IOException("no reflink");
        }, HangLimit));
        Assert.True(engine.WaitForIdle(HangLimit));

        // Idle counts a request out before its acknowledgement runs (outside the Sequencer's lock).
        Assert.True(SpinWait.SpinUntil(() => completion.Results.ContainsKey(during), HangLimit));
        Assert.Equal(4096, completion.Results[during]);
    }

    private static BlockRequest Write(NativeBuffers buffers, CountingCompletion completion, int page, byte fill)
    {
        nint buffer = buffers.Allocate(4096);
        new Span<byte>((void*)buffer, 4096).Fill(fill);
        var r = new BlockRequest(0, page, completion);
        r.Prepare(BlockOp.Write, RequestFlags.None, (ulong)page * 8, 8, RequestBuffer.Memory(buffer, 4096));
        return r;
    }
}
