using LoopOrder.Interop;
using LoopOrder.Queues.Ordering;
using LoopOrder.Queues.Requests;

namespace LoopOrder.Queues.Tests.Ordering;

public sealed class SequencerTests
{
    [Theory]
    [InlineData(OrderingMode.Drain)]
    [InlineData(OrderingMode.Strict)]
    public void Flush_waits_for_earlier_writes_from_every_queue(OrderingMode mode)
    {
        using var h = new SequencerHarness(mode);
        BlockRequest w0 = h.Write(queue: 0, start: 0, count: 8, fill: 1);
        BlockRequest w1 = h.Write(queue: 1, start: 64, count: 8, fill: 2);
        BlockRequest f = h.Flush(queue: 1);

        Assert.Null(h.PendingSync);
        h.Backend.Complete(w1);
        Assert.Null(h.PendingSync); // the write from the other queue has not landed
        h.Backend.Complete(w0);
        Assert.Same(f, h.PendingSync);
        Assert.False(h.IsAcked(f));
        h.Backend.Complete(f);
        Assert.Equal(0, h.ResultOf(f));
    }

    [Fact]
    public void Drain_lets_writes_after_a_flush_proceed_at_once()
    {
        using var h = new SequencerHarness(OrderingMode.Drain);
        BlockRequest w0 = h.Write(0, 0, 8, 1);
        BlockRequest f = h.Flush(1);
        BlockRequest w2 = h.Write(0, 128, 8, 3);

        Assert.True(h.Backend.IsPending(w2));
        h.Backend.Complete(w2);
        Assert.Equal(4096, h.ResultOf(w2));
        Assert.Null(h.PendingSync); // w2 came after the flush: the flush still waits only for w0
        h.Backend.Complete(w0);
        Assert.Same(f, h.PendingSync);
    }

    [Fact]
    public void Strict_holds_writes_received_after_a_flush_until_it_is_acknowledged()
    {
        using var h = new SequencerHarness(OrderingMode.Strict);
        BlockRequest w0 = h.Write(0, 0, 8, 1);
        BlockRequest f = h.Flush(1);
        BlockRequest w2 = h.Write(0, 128, 8, 3);
        BlockRequest r = h.Read(1, 512, 8);

        Assert.False(h.Backend.IsPending(w2));
        Assert.True(h.Backend.IsPending(r)); // reads are not held
        h.Backend.Complete(w0);
        Assert.False(h.Backend.IsPending(w2)); // the sync is running, the flush is not acknowledged
        h.Backend.Complete(f);
        Assert.Equal(0, h.ResultOf(f));
        Assert.True(h.Backend.IsPending(w2));
    }

    [Fact]
    public void Strict_releases_held_writes_flush_by_flush()
    {
        using var h = new SequencerHarness(OrderingMode.Strict);
        BlockRequest f1 = h.Flush(0); // no earlier write: syncs at once
        BlockRequest w1 = h.Write(0, 0, 8, 1); // held behind f1
        BlockRequest f2 = h.Flush(1);
        BlockRequest w2 = h.Write(1, 64, 8, 2); // held behind f1 and f2

        Assert.Same(f1, h.PendingSync);
        h.Backend.Complete(f1);
        Assert.True(h.Backend.IsPending(w1));
        Assert.False(h.Backend.IsPending(w2));
        Assert.Null(h.PendingSync); // f2 waits for w1
        h.Backend.Complete(w1);
        Assert.Same(f2, h.PendingSync);
        h.Backend.Complete(f2);
        Assert.True(h.Backend.IsPending(w2));
        Assert.Equal([f1, w1, f2], h.Acks.Select(a => a.Request));
    }

    [Fact]
    public void None_syncs_at_once_without_waiting_for_writes()
    {
        using var h = new SequencerHarness(OrderingMode.None);
        BlockRequest w0 = h.Write(0, 0, 8, 1);
        BlockRequest f = h.Flush(1);

        Assert.Same(f, h.PendingSync);
        h.Backend.Complete(f);
        Assert.Equal(0, h.ResultOf(f));
        Assert.False(h.IsAcked(w0));
    }

    [Theory]
    [InlineData(OrderingMode.Drain)]
    [InlineData(OrderingMode.Strict)]
    [InlineData(OrderingMode.None)]
    public void Overlapping_writes_land_in_receive_order(OrderingMode mode)
    {
        using var h = new SequencerHarness(mode);
        BlockRequest w1 = h.Write(0, 0, 8, 0xA1);
        BlockRequest w2 = h.Write(1, 4, 8, 0xB2); // overlaps sectors 4..7
        BlockRequest w3 = h.Write(1, 100, 8, 0xC3); // independent

        Assert.True(h.Backend.IsPending(w1));
        Assert.False(h.Backend.IsPending(w2));
        Assert.True(h.Backend.IsPending(w3));
        h.Backend.Complete(w1);
        Assert.True(h.Backend.IsPending(w2));
        h.Backend.Complete(w2);

        Assert.True(h.Backend.Store.Bytes(0, 4 * 512).ToArray().All(b => b == 0xA1));
        Assert.True(h.Backend.Store.Bytes(4 * 512, 8 * 512).ToArray().All(b => b == 0xB2));
    }

    [Fact]
    public void A_write_waits_for_every_earlier_write_it_overlaps()
    {
        using var h = new SequencerHarness(OrderingMode.Drain);
        BlockRequest a = h.Write(0, 0, 4, 1);
        BlockRequest b = h.Write(0, 8, 4, 2);
        BlockRequest c = h.Write(1, 0, 12, 3); // overlaps both

        h.Backend.Complete(b);
        Assert.False(h.Backend.IsPending(c));
        h.Backend.Complete(a);
        Assert.True(h.Backend.IsPending(c));
    }

    [Fact]
    public void A_read_waits_for_an_overlapping_write_and_returns_its_data()
    {
        using var h = new SequencerHarness(OrderingMode.Drain);
        BlockRequest w = h.Write(0, 16, 8, 0x5A);
        BlockRequest overlapping = h.Read(1, 20, 8);
        BlockRequest disjoint = h.Read(1, 200, 8);

        Assert.False(h.Backend.IsPending(overlapping));
        Assert.True(h.Backend.IsPending(disjoint));
        h.Backend.Complete(w);
        h.Backend.Complete(overlapping);

        Assert.Equal(4096, h.ResultOf(overlapping));
        ReadOnlySpan<byte> data = SequencerHarness.Data(overlapping);
        Assert.True(data[..(4 * 512)].ToArray().All(x => x == 0x5A)); // sectors 20..23 from the write
        Assert.True(data[(4 * 512)..].ToArray().All(x => x == 0)); // sectors 24..27 never written
    }

    [Fact]
    public void Fua_reaches_the_backend_and_is_acknowledged_only_after_it_lands()
    {
        using var h = new SequencerHarness(OrderingMode.Drain);
        BlockRequest w = h.Write(0, 0, 8, 1, RequestFlags.Fua);

        BlockRequest started = Assert.Single(h.Backend.Pending);
        Assert.True(started.Flags.HasFlag(RequestFlags.Fua));
        Assert.False(h.IsAcked(w));
        h.Backend.Complete(w);
        Assert.Equal(4096, h.ResultOf(w));
    }

    [Theory]
    [InlineData(BlockOp.Discard)]
    [InlineData(BlockOp.WriteZeroes)]
    public void Discard_and_write_zeroes_order_like_writes_and_read_back_zeros(BlockOp op)
    {
        using var h = new SequencerHarness(OrderingMode.Drain);
        BlockRequest w = h.Write(0, 0, 16, 0x77);
        BlockRequest d = h.Submit(1, op, 4, 8);
        Assert.False(h.Backend.IsPending(d)); // overlaps the write: lands after it
        h.Backend.Complete(w);
        h.Backend.Complete(d);
        BlockRequest r = h.Read(0, 0, 16);
        h.Backend.Complete(r);

        Assert.Equal(0, h.ResultOf(d));
        ReadOnlySpan<byte> data = SequencerHarness.Data(r);
        Assert.True(data[..(4 * 512)].ToArray().All(x => x == 0x77));
        Assert.True(data[(4 * 512)..(12 * 512)].ToArray().All(x => x == 0));
        Assert.True(data[(12 * 512)..].ToArray().All(x => x == 0x77));
    }

    [Theory]
    [InlineData(OrderingMode.Drain)]
    [InlineData(OrderingMode.Strict)]
    [InlineData(OrderingMode.None)]
    public void A_failed_sync_fails_that_flush_and_every_later_one(OrderingMode mode)
    {
        using var h = new SequencerHarness(mode);
        BlockRequest f1 = h.Flush(0);
        h.Backend.Complete(f1, Errno.EIO);
        Assert.Equal(Errno.EIO.ToResult(), h.ResultOf(f1));
        Assert.True(h.Sequencer.IsErrorLatched);

        BlockRequest w = h.Write(0, 0, 8, 1);
        h.Backend.Complete(w);
        Assert.Equal(4096, h.ResultOf(w)); // writes still work
        BlockRequest f2 = h.Flush(1);
        Assert.Equal(Errno.EIO.ToResult(), h.ResultOf(f2)); // never asked the backend: a retried sync can "succeed" over lost data
        Assert.Null(h.PendingSync);
    }

    [Fact]
    public void A_failed_write_fails_itself_and_every_later_flush()
    {
        using var h = new SequencerHarness(OrderingMode.Drain);
        BlockRequest w = h.Write(0, 0, 8, 1);
        BlockRequest f = h.Flush(0);
        h.Backend.Complete(w, Errno.ENOSPC);

        Assert.Equal(Errno.ENOSPC.ToResult(), h.ResultOf(w));
        Assert.Equal(Errno.EIO.ToResult(), h.ResultOf(f));
    }

    [Fact]
    public void Flushes_that_become_ready_together_share_one_sync()
    {
        using var h = new SequencerHarness(OrderingMode.Drain);
        BlockRequest w = h.Write(0, 0, 8, 1);
        BlockRequest f1 = h.Flush(0);
        BlockRequest f2 = h.Flush(1);
        Assert.Null(h.PendingSync);

        h.Backend.Complete(w); // both become ready at once
        Assert.Same(f1, h.PendingSync);
        Assert.Single(h.Backend.Pending); // f2 rides on f1's sync
        h.Backend.Complete(f1);
        Assert.Equal(0, h.ResultOf(f1));
        Assert.Equal(0, h.ResultOf(f2));
    }

    [Theory]
    [InlineData(OrderingMode.Drain)]
    [InlineData(OrderingMode.Strict)]
    public void A_ready_flush_starts_its_sync_while_an_earlier_sync_runs(OrderingMode mode)
    {
        using var h = new SequencerHarness(mode);
        BlockRequest f1 = h.Flush(0); // nothing earlier: syncs at once
        BlockRequest w = h.Write(1, 64, 8, 2); // strict holds it behind f1
        BlockRequest f2 = h.Flush(1);
        Assert.Equal([f1], h.Backend.Pending.Where(p => p.Op == BlockOp.Flush));
        if (mode == OrderingMode.Strict)
        {
            Assert.False(h.Backend.IsPending(w));
            return; // f2 waits for w, which waits for f1's acknowledgement: nothing can start early
        }

        h.Backend.Complete(w); // f2's earlier writes have all landed: its own sync starts now
        Assert.Equal([f1, f2], h.Backend.Pending.Where(p => p.Op == BlockOp.Flush));
        Assert.Equal(2, h.Sequencer.FlushStatistics.PeakSyncsInFlight);
    }

    [Fact]
    public void Two_syncs_in_flight_each_cover_only_what_landed_before_it_started()
    {
        using var h = new SequencerHarness(OrderingMode.Drain);
        BlockRequest w0 = h.Write(0, 0, 8, 1);
        BlockRequest f1 = h.Flush(0);
        h.Backend.Complete(w0);
        Assert.Same(f1, h.PendingSync); // covers w0

        BlockRequest w1 = h.Write(1, 64, 8, 2);
        BlockRequest f2 = h.Flush(1);
        BlockRequest w2 = h.Write(0, 128, 8, 3);
        BlockRequest f3 = h.Flush(0);
        h.Backend.Complete(w1);
        BlockRequest[] syncs = [.. h.Backend.Pending.Where(p => p.Op == BlockOp.Flush)];
        Assert.Equal([f1, f2], syncs); // f2's sync covers w1; f3 still waits for w2

        h.Backend.Complete(f1);
        Assert.Equal(0, h.ResultOf(f1));
        Assert.False(h.IsAcked(f2)); // its own sync runs
        Assert.False(h.IsAcked(f3)); // f1's sync started before w2 landed: it does not cover f3
        Assert.Equal([f2], h.Backend.Pending.Where(p => p.Op == BlockOp.Flush));

        h.Backend.Complete(w2);
        Assert.Equal([f2, f3], h.Backend.Pending.Where(p => p.Op == BlockOp.Flush));
        h.Backend.Complete(f2);
        h.Backend.Complete(f3);
        Assert.Equal(0, h.ResultOf(f2));
        Assert.Equal(0, h.ResultOf(f3));
        Assert.Equal(3, h.Sequencer.FlushStatistics.Syncs);
    }

    [Fact]
    public void A_sync_that_ends_first_is_acknowledged_after_the_sync_started_before_it()
    {
        using var h = new SequencerHarness(OrderingMode.Drain);
        BlockRequest f1 = h.Flush(0);
        BlockRequest w = h.Write(1, 64, 8, 2);
        BlockRequest f2 = h.Flush(1);
        h.Backend.Complete(w);

        h.Backend.Complete(f2);
        Assert.False(h.IsAcked(f2)); // an error f1's sync reports may concern data f2's covers too
        h.Backend.Complete(f1);
        Assert.Equal([f1, f2], h.Acks.Where(a => a.Request.Op == BlockOp.Flush).Select(a => a.Request));
        Assert.Equal(0, h.ResultOf(f2));
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void A_failed_sync_fails_every_flush_not_yet_acknowledged(bool laterSyncEndsFirst)
    {
        using var h = new SequencerHarness(OrderingMode.Drain);
        BlockRequest f1 = h.Flush(0);
        BlockRequest w = h.Write(1, 64, 8, 2);
        BlockRequest f2 = h.Flush(1);
        h.Backend.Complete(w);

        // Linux reports a writeback error to one fdatasync only: whichever sync gets it, neither
        // flush may claim durability.
        if (laterSyncEndsFirst)
        {
            h.Backend.Complete(f2, Errno.EIO);
            h.Backend.Complete(f1);
        }
        else
        {
            h.Backend.Complete(f2);
            h.Backend.Complete(f1, Errno.EIO);
        }

        Assert.Equal(Errno.EIO.ToResult(), h.ResultOf(f1));
        Assert.Equal(Errno.EIO.ToResult(), h.ResultOf(f2));
        BlockRequest f3 = h.Flush(0);
        Assert.Equal(Errno.EIO.ToResult(), h.ResultOf(f3));
        Assert.Null(h.PendingSync);
    }

    [Fact]
    public void A_sync_that_ended_before_a_later_one_failed_keeps_its_success()
    {
        using var h = new SequencerHarness(OrderingMode.Drain);
        BlockRequest f1 = h.Flush(0);
        BlockRequest w = h.Write(1, 64, 8, 2);
        BlockRequest f2 = h.Flush(1);
        h.Backend.Complete(w);

        h.Backend.Complete(f1); // acknowledged: it checked for errors before the later one failed
        Assert.Equal(0, h.ResultOf(f1));
        h.Backend.Complete(f2, Errno.EIO);
        Assert.Equal(Errno.EIO.ToResult(), h.ResultOf(f2));
    }

    [Fact]
    public void Strict_releases_writes_as_each_sync_group_is_acknowledged()
    {
        using var h = new SequencerHarness(OrderingMode.Strict);
        BlockRequest f1 = h.Flush(0);
        BlockRequest f2 = h.Flush(1); // ready too: its own sync, concurrently
        BlockRequest w = h.Write(0, 0, 8, 1); // held behind both
        Assert.Equal([f1, f2], h.Backend.Pending.Where(p => p.Op == BlockOp.Flush));

        h.Backend.Complete(f2);
        Assert.False(h.Backend.IsPending(w)); // f1, received before it, is not acknowledged
        h.Backend.Complete(f1);
        Assert.True(h.Backend.IsPending(w));
    }

    [Theory]
    [InlineData(BlockOp.Write, 2048UL - 4, 8u)] // runs past the end of a 1 MiB device
    [InlineData(BlockOp.Read, 2048UL, 1u)] // starts at the end
    [InlineData(BlockOp.Write, 0UL, 0u)] // zero length
    [InlineData(BlockOp.Discard, ulong.MaxValue - 2, 8u)] // wraps around
    public void Invalid_requests_fail_with_EINVAL_and_never_reach_the_backend(BlockOp op, ulong start, uint count)
    {
        using var h = new SequencerHarness(OrderingMode.Drain);
        BlockRequest r = h.Submit(0, op, start, count);

        Assert.Equal(Errno.EINVAL.ToResult(), h.ResultOf(r));
        Assert.Empty(h.Backend.Pending);
        Assert.Equal(0, h.Sequencer.Outstanding);
        Assert.False(h.Sequencer.IsErrorLatched);
    }

    [Theory]
    [InlineData((BlockOp)4)] // WRITE_SAME: the kernel defines it but never sends it
    [InlineData((BlockOp)9)] // undefined
    [InlineData((BlockOp)13)] // UBLK_IO_OP_ZONE_APPEND: this device is not zoned
    [InlineData((BlockOp)255)]
    public void Ops_the_engine_does_not_serve_fail_with_EOPNOTSUPP_and_never_reach_the_backend(BlockOp op)
    {
        using var h = new SequencerHarness(OrderingMode.Drain);
        BlockRequest r = h.Submit(0, op, 0, 8);

        Assert.Equal(Errno.EOPNOTSUPP.ToResult(), h.ResultOf(r));
        Assert.Empty(h.Backend.Pending);
        Assert.Equal(0, h.Sequencer.Outstanding);
        Assert.False(h.Sequencer.IsErrorLatched);
    }

    [Theory]
    [InlineData(BlockOp.Write, 8UL, 4u)] // half a block
    [InlineData(BlockOp.Read, 4UL, 8u)] // a block's worth, straddling two
    [InlineData(BlockOp.Discard, 1UL, 8u)]
    [InlineData(BlockOp.WriteZeroes, 0UL, 9u)]
    public void On_a_4096_byte_block_device_requests_not_on_whole_blocks_fail_with_EINVAL(BlockOp op, ulong start, uint count)
    {
        using var h = new SequencerHarness(OrderingMode.Drain, logicalBlockSize: 4096);
        BlockRequest bad = h.Submit(0, op, start, count);
        BlockRequest good = h.Submit(0, op, 8, 8);

        Assert.Equal(Errno.EINVAL.ToResult(), h.ResultOf(bad));
        Assert.Null(h.ResultOf(good)); // whole blocks go on to the backend
        Assert.Single(h.Backend.Pending);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(1024 + 512)]
    [InlineData(8192)]
    public void A_logical_block_size_that_is_not_a_power_of_two_from_512_to_4096_is_refused(int size) =>
        Assert.Throws<ArgumentOutOfRangeException>(() => new SequencerHarness(OrderingMode.Drain, logicalBlockSize: size));

    [Fact]
    public void Writes_to_a_read_only_device_fail_with_EROFS()
    {
        using var h = new SequencerHarness(OrderingMode.Drain, readOnly: true);
        BlockRequest w = h.Write(0, 0, 8, 1);
        BlockRequest r = h.Read(0, 0, 8);

        Assert.Equal(Errno.EROFS.ToResult(), h.ResultOf(w));
        Assert.True(h.Backend.IsPending(r));
    }

    [Fact]
    public void Every_submission_is_acknowledged_exactly_once()
    {
        using var h = new SequencerHarness(OrderingMode.Strict);
        var all = new List<BlockRequest>();
        for (int i = 0; i < 20; i++)
        {
            all.Add(i % 5 == 4 ? h.Flush(i % 2) : h.Write(i % 2, (ulong)(i % 3) * 4, 8, (byte)i));
        }

        while (h.Backend.CompleteOldest())
        {
        }

        Assert.Equal(all.Count, h.Acks.Count);
        Assert.Equal(all.ToHashSet(), h.Acks.Select(a => a.Request).ToHashSet());
        Assert.Equal(0, h.Sequencer.Outstanding);
    }

    [Fact]
    public void Flush_statistics_count_flushes_and_the_syncs_that_answered_them()
    {
        using var h = new SequencerHarness(OrderingMode.Drain);
        BlockRequest w = h.Write(0, 0, 8, 1);
        BlockRequest f1 = h.Flush(0);
        BlockRequest f2 = h.Flush(1);
        Assert.Equal(default, h.Sequencer.FlushStatistics); // nothing acknowledged yet

        h.Backend.Complete(w);
        h.Backend.Complete(f1); // one sync answers both flushes
        FlushStatistics s = h.Sequencer.FlushStatistics;
        Assert.Equal(0, h.ResultOf(f2));
        Assert.Equal(2, s.Flushes);
        Assert.Equal(1, s.Syncs);
        Assert.Equal(1, s.PeakSyncsInFlight);
        Assert.True(s.InSync >= s.SyncTime, "both flushes were in the sync for its whole run");
    }

    [Fact]
    public void Flushes_failed_on_a_latched_error_count_without_a_sync()
    {
        using var h = new SequencerHarness(OrderingMode.Drain);
        BlockRequest w = h.Write(0, 0, 8, 1);
        h.Backend.Complete(w, Errno.ENOSPC);
        h.Flush(0);

        FlushStatistics s = h.Sequencer.FlushStatistics;
        Assert.Equal(1, s.Flushes);
        Assert.Equal(0, s.Syncs);
        Assert.Equal(TimeSpan.Zero, s.SyncTime);
    }
}
