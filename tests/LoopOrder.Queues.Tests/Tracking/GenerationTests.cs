using LoopOrder.Queues.Requests;
using LoopOrder.Queues.Tracking;
using LoopOrder.Verification.Tracking;

namespace LoopOrder.Queues.Tests.Tracking;

/// <summary>
/// Generations tied to snapshots: the snapshot barrier closes the current generation while it
/// holds every later write, so a write received before it is in the closed generation and one
/// held behind it in the next; closed generations survive a reopen and a crash.
/// </summary>
public sealed class GenerationTests
{
    private const uint R = TrackingHarness.RegionSectors;

    [Fact]
    public void A_write_before_the_barrier_is_in_the_closed_generation_and_one_held_behind_it_in_the_next()
    {
        using var h = new TrackingHarness();
        BlockRequest before = h.Write(0, 8);
        h.Tracker.RunCommit();
        h.Backend.Complete(before);

        BlockRequest barrier = PlaceBarrier(h);
        BlockRequest held = h.Write(2 * R, 8);      // a new region
        BlockRequest again = h.Write(8, 8);          // region 0, marked in generation 1 only
        Assert.False(h.Started(held) || h.Started(again));
        Assert.True(h.Backend.CompleteOldest());     // the barrier's sync
        Assert.True(h.Acks.ContainsKey(barrier));

        Assert.Equal(1UL, h.Tracker.CloseGeneration());
        Assert.Equal(2UL, h.Tracker.Generation);
        Assert.Empty(h.Tracker.MarkedRegions);
        h.Sequencer.ReleaseBarrier();

        // Both are first touches of generation 2: neither starts before its mark is durable there.
        Assert.False(h.Started(held) || h.Started(again));
        Assert.True(h.Tracker.RunCommit());
        Assert.True(h.Started(held));
        Assert.False(h.Started(again)); // asked for while the first commit was in flight: the next one covers it
        Assert.True(h.Tracker.RunCommit());
        Assert.True(h.Started(again));

        Assert.Equal([0L], h.Tracker.ChangedSince(0, 1).SetRegions());
        Assert.Equal([0L, 2L], h.Tracker.ChangedSince(1).SetRegions());
        Assert.Equal([0L, 2L], h.Tracker.ChangedSince(0).SetRegions());
        Assert.Empty(h.Tracker.ChangedSince(1, 1).SetRegions());
    }

    [Fact]
    public void Pruned_generations_are_given_back_and_later_ones_still_answer()
    {
        using var h = new TrackingHarness();
        Land(h, h.Write(0, 8));
        Assert.Equal(1UL, h.Tracker.CloseGeneration());
        Land(h, h.Write(3 * R, 8));
        Assert.Equal(2UL, h.Tracker.CloseGeneration());
        Land(h, h.Write(5 * R, 8));
        Assert.Equal(3UL, h.Tracker.CloseGeneration());

        Assert.Equal(2, h.Tracker.Prune(2));   // the oldest remaining snapshot closed generation 2
        Assert.Equal(0, h.Tracker.Prune(2));   // once
        Assert.Equal([5L], h.Tracker.ChangedSince(2, 3).SetRegions());
        Assert.Throws<InvalidDataException>(() => h.Tracker.ChangedSince(0, 3));
        Assert.Equal(1, h.Tracker.Prune(99));  // never the current generation
        Assert.Equal(4UL, h.Tracker.Generation);
        Assert.Empty(h.Tracker.ChangedSince(3).SetRegions());
    }

    [Fact]
    public void Closing_is_refused_while_a_write_waits_for_its_mark()
    {
        using var h = new TrackingHarness();
        h.Write(0, 8);
        Assert.Throws<InvalidOperationException>(() => h.Tracker.CloseGeneration());
        Assert.Equal(1UL, h.Tracker.Generation);
    }

    [Fact]
    public void Closed_generations_and_the_current_one_survive_a_reopen()
    {
        using var h = new TrackingHarness();
        Land(h, h.Write(0, 8));
        Land(h, h.Write(3 * R, 8));
        Assert.Equal(1UL, h.Tracker.CloseGeneration());
        Land(h, h.Write(5 * R, 8));
        Assert.Equal(2UL, h.Tracker.CloseGeneration());
        Land(h, h.Write(7 * R, 8));

        using ChangeTracker reopened = Reopen(h.Store.CrashImage());
        Assert.Equal(3UL, reopened.Generation);
        Assert.Equal([7L], reopened.MarkedRegions);
        Assert.Equal([0L, 3L], reopened.ChangedSince(0, 1).SetRegions());
        Assert.Equal([5L], reopened.ChangedSince(1, 2).SetRegions());
        Assert.Equal([5L, 7L], reopened.ChangedSince(1).SetRegions());
        Assert.Throws<ArgumentOutOfRangeException>(() => reopened.ChangedSince(2, 1));
        Assert.Throws<ArgumentOutOfRangeException>(() => reopened.ChangedSince(0, 4));
    }

    [Fact]
    public void A_crash_at_every_point_of_a_close_keeps_every_change_tracked()
    {
        for (int seed = 0; seed < 64; seed++)
        {
            using var h = new TrackingHarness();
            Land(h, h.Write(R, 8));
            Assert.Equal(1UL, h.Tracker.CloseGeneration());
            Land(h, h.Write(4 * R, 8));

            // The second close's writes are torn by a power cut: some sectors of either slot reach the disk.
            h.Store.FailSyncs = true;
            Assert.Throws<IOException>(() => h.Tracker.CloseGeneration());
            using ChangeTracker reopened = Reopen(h.Store.CrashImage(new Random(seed)));

            // Either generation 2 is still current (its closed slot may be torn: a later close rewrites it), or it closed intact.
            Assert.Equal([1L], reopened.ChangedSince(0, 1).SetRegions());
            Assert.Contains(4L, reopened.ChangedSince(1).SetRegions());
            Assert.InRange(reopened.Generation, 2UL, 3UL);
        }
    }

    [Fact]
    public void Metadata_laid_out_for_another_device_size_is_refused_not_misread()
    {
        using var h = new TrackingHarness();
        Land(h, h.Write(0, 8));
        h.Tracker.CloseGeneration();
        byte[] image = h.Store.CrashImage();

        // 16 GiB: 32 KiB of bitmap, so another slot size (1 GiB would still fit the 1 MiB device's 4 KiB slot).
        InvalidDataException e = Assert.Throws<InvalidDataException>(() => new ChangeTracker(new MemoryTrackerStore(image), 16L << 30, 512,
            new TrackerOptions { MetadataPath = "", RegionSize = TrackingHarness.RegionSize, ManualCommits = true }));
        Assert.Contains("size changed", e.Message, StringComparison.Ordinal);
    }

    private static ChangeTracker Reopen(byte[] image) =>
        new(new MemoryTrackerStore(image), TrackingHarness.DeviceBytes, 512,
            new TrackerOptions { MetadataPath = "", RegionSize = TrackingHarness.RegionSize, ManualCommits = true });

    private static void Land(TrackingHarness h, BlockRequest write)
    {
        h.Tracker.RunCommit();
        h.Backend.Complete(write);
        Assert.True(h.Acks[write] > 0);
    }

    private static BlockRequest PlaceBarrier(TrackingHarness h)
    {
        var barrier = new BlockRequest(-1, 0, h);
        barrier.Prepare(BlockOp.Flush, RequestFlags.None, 0, 0, RequestBuffer.None);
        h.Sequencer.PlaceBarrier(barrier);
        return barrier;
    }
}
