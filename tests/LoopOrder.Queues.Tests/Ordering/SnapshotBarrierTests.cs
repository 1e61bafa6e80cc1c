using LoopOrder.Interop;
using LoopOrder.Queues.Ordering;
using LoopOrder.Queues.Requests;

namespace LoopOrder.Queues.Tests.Ordering;

/// <summary>
/// The snapshot barrier in the Sequencer, step by step over the controlled backend: earlier writes
/// land and the sync runs before it is acknowledged, in every mode (mode none included: a snapshot
/// needs the drain even where flushes do not promise it); later writes are held until it is
/// released while reads go on; a latched error fails it; strict's own hold outlives it.
/// </summary>
public sealed class SnapshotBarrierTests
{
    [Theory]
    [InlineData(OrderingMode.Drain)]
    [InlineData(OrderingMode.Strict)]
    [InlineData(OrderingMode.None)]
    public void Earlier_writes_land_and_sync_first_and_later_writes_wait_for_the_release_while_reads_go_on(OrderingMode mode)
    {
        using var h = new SequencerHarness(mode);
        BlockRequest before = h.Write(0, 0, 8, 0x11);
        BlockRequest barrier = h.Barrier();
        BlockRequest after = h.Write(1, 64, 8, 0x22);
        BlockRequest discard = h.Submit(1, BlockOp.Discard, 128, 8);
        BlockRequest read = h.Read(1, 256, 8);

        Assert.True(h.Sequencer.HasBarrier);
        Assert.Null(h.PendingSync); // the earlier write has not landed: no sync yet
        Assert.False(h.Backend.IsPending(after));
        Assert.False(h.Backend.IsPending(discard));
        Assert.True(h.Backend.IsPending(read)); // reads are never held

        h.Backend.Complete(read);
        h.Backend.Complete(before);
        BlockRequest sync = Assert.IsType<BlockRequest>(h.PendingSync);
        Assert.Same(barrier, sync);
        Assert.False(h.IsAcked(barrier));
        h.Backend.Complete(sync);

        Assert.Equal(0, h.ResultOf(barrier));
        Assert.False(h.Backend.IsPending(after)); // still held: the snapshot is cut now
        h.Sequencer.ReleaseBarrier();
        Assert.False(h.Sequencer.HasBarrier);
        Assert.True(h.Backend.IsPending(after));
        Assert.True(h.Backend.IsPending(discard));
        h.Backend.Complete(after);
        h.Backend.Complete(discard);
        Assert.Equal(0, h.Sequencer.Outstanding);
    }

    [Fact]
    public void A_read_overlapping_a_held_write_waits_for_it_since_it_must_see_it()
    {
        using var h = new SequencerHarness(OrderingMode.Drain);
        BlockRequest barrier = h.Barrier();
        BlockRequest held = h.Write(0, 0, 8, 0x33);
        BlockRequest read = h.Read(0, 0, 8);
        h.Backend.Complete(h.PendingSync!);
        Assert.Equal(0, h.ResultOf(barrier));
        Assert.False(h.Backend.IsPending(read));

        h.Sequencer.ReleaseBarrier();
        h.Backend.Complete(held);
        h.Backend.Complete(read);
        Assert.Equal(0x33, SequencerHarness.Data(read)[0]);
    }

    [Theory]
    [InlineData(OrderingMode.Drain)]
    [InlineData(OrderingMode.None)]
    public void A_latched_error_fails_the_barrier_without_a_sync(OrderingMode mode)
    {
        using var h = new SequencerHarness(mode);
        BlockRequest bad = h.Write(0, 0, 8, 0x44);
        h.Sequencer.Landed(bad, Errno.EIO.ToResult());
        BlockRequest barrier = h.Barrier();
        BlockRequest after = h.Write(0, 64, 8, 0x55);

        Assert.Equal(Errno.EIO.ToResult(), h.ResultOf(barrier));
        Assert.False(h.Backend.IsPending(after));
        h.Sequencer.ReleaseBarrier();
        Assert.True(h.Backend.IsPending(after));
    }

    [Fact]
    public void Strict_keeps_holding_writes_behind_a_later_flush_after_the_barrier_is_released()
    {
        using var h = new SequencerHarness(OrderingMode.Strict);
        BlockRequest barrier = h.Barrier();
        BlockRequest flush = h.Flush(0);
        BlockRequest after = h.Write(0, 0, 8, 0x66);
        while (h.PendingSync is { } sync)
        {
            h.Backend.Complete(sync); // the barrier's sync, then the flush's (each started as it was ready)
        }

        Assert.Equal(0, h.ResultOf(barrier));
        Assert.Equal(0, h.ResultOf(flush));
        Assert.False(h.Backend.IsPending(after)); // the barrier still holds it

        BlockRequest flush2 = h.Flush(0);
        BlockRequest after2 = h.Write(0, 64, 8, 0x77);
        h.Sequencer.ReleaseBarrier();
        Assert.True(h.Backend.IsPending(after)); // received before flush2: free
        Assert.False(h.Backend.IsPending(after2)); // strict holds it behind flush2

        h.Backend.Complete(after);
        h.Backend.Complete(h.PendingSync!);
        Assert.Equal(0, h.ResultOf(flush2));
        Assert.True(h.Backend.IsPending(after2));
        h.Backend.Complete(after2);
    }

    [Fact]
    public void One_barrier_at_a_time()
    {
        using var h = new SequencerHarness(OrderingMode.Drain);
        h.Barrier();
        Assert.Throws<InvalidOperationException>(() => h.Barrier());
        h.Backend.Complete(h.PendingSync!);
        h.Sequencer.ReleaseBarrier();
        Assert.Throws<InvalidOperationException>(h.Sequencer.ReleaseBarrier);
    }

    [Theory]
    [InlineData(OrderingMode.Drain)]
    [InlineData(OrderingMode.None)]
    public void A_barrier_released_before_its_acknowledgement_finishes_as_a_plain_flush(OrderingMode mode)
    {
        using var h = new SequencerHarness(mode);
        BlockRequest before = h.Write(0, 0, 8, 0x11);
        BlockRequest barrier = h.Barrier();
        BlockRequest after = h.Write(0, 64, 8, 0x22);
        h.Sequencer.ReleaseBarrier(); // abandoned, e.g. on a timeout
        Assert.True(h.Backend.IsPending(after));
        h.Backend.Complete(after);
        h.Backend.Complete(before);
        h.Backend.Complete(h.PendingSync!);
        Assert.Equal(0, h.ResultOf(barrier));
        Assert.Equal(0, h.Sequencer.Outstanding);
    }
}
