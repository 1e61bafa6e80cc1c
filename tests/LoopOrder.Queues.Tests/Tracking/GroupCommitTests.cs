using LoopOrder.Interop;
using LoopOrder.Queues.Requests;
using LoopOrder.Verification.Tracking;

namespace LoopOrder.Queues.Tests.Tracking;

/// <summary>The CBT rule on the write path: held until the mark is durable, grouped, failed with EIO when it cannot be.</summary>
public sealed class GroupCommitTests
{
    private const uint R = TrackingHarness.RegionSectors;

    [Fact]
    public void A_write_to_an_unmarked_region_reaches_the_backend_only_after_the_metadata_sync()
    {
        using var h = new TrackingHarness();
        BlockRequest w = h.Write(3 * R, 8);

        Assert.False(h.Started(w));
        Assert.Equal(0, h.Backend.PendingCount);
        Assert.True(h.Tracker.CommitDue);

        Assert.True(h.Tracker.RunCommit());
        Assert.Equal(["write", "sync", $"start #{w.Seq}"], h.Log);
        Assert.True(h.Tracker.IsMarked(3));
        h.Backend.Complete(w);
        Assert.Equal(8 * 512, h.Acks[w]);
    }

    [Fact]
    public void A_write_to_a_marked_region_goes_straight_through()
    {
        using var h = new TrackingHarness();
        BlockRequest first = h.Write(5 * R, 8);
        h.Tracker.RunCommit();
        h.Backend.Complete(first);
        h.Log.Clear();

        BlockRequest again = h.Write((5 * R) + 64, 16);
        Assert.True(h.Started(again));
        Assert.False(h.Tracker.CommitDue);
        Assert.Equal([$"start #{again.Seq}"], h.Log);
        Assert.Equal(1, h.Tracker.Commits);
    }

    [Fact]
    public void First_touches_during_a_commit_share_the_next_one()
    {
        using var h = new TrackingHarness();
        BlockRequest a = h.Write(1 * R, 8);           // starts commit 1, covering region 1
        BlockRequest a2 = h.Write((1 * R) + 64, 8);   // region 1 again: joins commit 1
        BlockRequest b = h.Write(2 * R, 8);           // new regions wait for commit 2
        BlockRequest c = h.Submit(BlockOp.Discard, (4 * R) - 8, 16); // regions 3 and 4

        h.Tracker.RunCommit();
        Assert.True(h.Started(a) && h.Started(a2));
        Assert.False(h.Started(b) || h.Started(c));
        Assert.True(h.Tracker.CommitDue);

        h.Tracker.RunCommit();
        Assert.True(h.Started(b) && h.Started(c));
        Assert.Equal(2, h.Tracker.Commits);
        Assert.Equal(4, h.Tracker.HeldWrites);
        Assert.Equal([1L, 2, 3, 4], h.Tracker.MarkedRegions);
        Assert.False(h.Tracker.CommitDue);
    }

    [Fact]
    public void A_flush_waits_for_a_held_write()
    {
        using var h = new TrackingHarness();
        BlockRequest w = h.Write(7 * R, 8);
        BlockRequest f = h.Submit(BlockOp.Flush, 0, 0);
        Assert.Equal(0, h.Backend.PendingCount); // no sync before the held write landed (D1)

        h.Tracker.RunCommit();
        h.Backend.Complete(w);
        Assert.True(h.Started(f));
        h.Backend.Complete(f);
        Assert.Equal(0, h.Acks[f]);
    }

    [Fact]
    public void A_failed_metadata_sync_fails_the_held_writes_with_EIO_and_nothing_lands()
    {
        using var h = new TrackingHarness();
        BlockRequest marked = h.Write(0, 8);
        h.Tracker.RunCommit();
        h.Backend.Complete(marked);

        h.Store.FailSyncs = true;
        BlockRequest w1 = h.Write(2 * R, 8);
        BlockRequest w2 = h.Submit(BlockOp.WriteZeroes, 6 * R, 8);
        h.Tracker.RunCommit();

        Assert.Equal(Errno.EIO.ToResult(), h.Acks[w1]);
        Assert.Equal(Errno.EIO.ToResult(), h.Acks[w2]);
        Assert.False(h.Started(w1) || h.Started(w2));
        Assert.True(h.Tracker.IsFailed);
        Assert.True(h.Sequencer.IsErrorLatched); // a failed write: later flushes fail too (C5)

        // Latched: a later first touch fails at once, without a commit; a marked region still takes writes.
        BlockRequest later = h.Write(9 * R, 8);
        Assert.Equal(Errno.EIO.ToResult(), h.Acks[later]);
        Assert.False(h.Started(later));
        Assert.False(h.Tracker.CommitDue);
        BlockRequest again = h.Write(8, 8);
        Assert.True(h.Started(again));
        Assert.DoesNotContain(h.Tracker.MarkedRegions, r => r is 2 or 6 or 9);
    }

    [Fact]
    public void A_failed_metadata_write_fails_the_held_writes_too()
    {
        var store = new MemoryTrackerStore();
        using var h = new TrackingHarness(store);
        store.FailWrites = true;
        BlockRequest w = h.Write(4 * R, 8);
        h.Tracker.RunCommit();
        Assert.Equal(Errno.EIO.ToResult(), h.Acks[w]);
        Assert.False(h.Started(w));
    }

    [Fact]
    public void Reads_and_flushes_are_never_held()
    {
        using var h = new TrackingHarness();
        BlockRequest r = h.Submit(BlockOp.Read, 10 * R, 8);
        Assert.True(h.Started(r));
        Assert.False(h.Tracker.CommitDue);
    }
}
