using LoopOrder.Queues.Dispatch;
using LoopOrder.Queues.Requests;
using LoopOrder.Queues.Tracking;
using LoopOrder.Verification.Tracking;

namespace LoopOrder.Queues.Tests.Tracking;

/// <summary>The metadata format: two checksummed slots, so a torn commit never loses a bit a landed write needs.</summary>
public sealed class TrackerMetadataTests
{
    // 65536 regions: the bitmap spans 17 sectors, so a torn commit can mix old and new sectors.
    private const long Device = 256L << 20;
    private const int Region = 4096;

    [Fact]
    public void A_slot_round_trips_and_any_flipped_bit_fails_its_checksum()
    {
        var map = new RegionMap(64);
        map.Set(0);
        map.Set(17);
        map.Set(63);
        var slot = new byte[TrackerMetadata.SlotSize(64)];
        var header = new TrackerSlotHeader(9, 3, Region, 64);
        TrackerMetadata.Encode(slot, header, map);

        var back = new RegionMap(64);
        Assert.Equal(header, TrackerMetadata.TryDecode(slot, back));
        Assert.Equal([0L, 17, 63], back.SetRegions());

        for (int bit = 0; bit < (TrackerMetadata.HeaderSize + 8) * 8; bit++)
        {
            byte[] bad = (byte[])slot.Clone();
            bad[bit / 8] ^= (byte)(1 << (bit % 8));
            Assert.Null(TrackerMetadata.TryDecode(bad));
        }
    }

    [Theory]
    [InlineData(1)] // the torn commit writes slot B
    [InlineData(2)] // the torn commit writes slot A
    [InlineData(5)]
    [InlineData(6)]
    public void A_torn_commit_of_either_slot_keeps_every_bit_synced_before_it(int commitsBefore)
    {
        for (int seed = 0; seed < 64; seed++)
        {
            var store = new MemoryTrackerStore();
            var sink = new Sink();
            var tracker = Open(store, sink);
            for (int i = 0; i < commitsBefore; i++)
            {
                Assert.Equal(0, tracker.Admit(Discard(i * 3001)));
                Assert.True(tracker.RunCommit());
            }

            long[] durable = tracker.MarkedRegions.ToArray();
            store.FailSyncs = true; // the commit's write happens, its sync never completes: a crash now tears it
            Assert.Equal(0, tracker.Admit(Discard(40000)));
            tracker.RunCommit();
            Assert.DoesNotContain(sink.Released, r => r.StartSector == 40000UL * (Region / 512));

            byte[] image = store.CrashImage(new Random(seed));
            using var reopened = Open(new MemoryTrackerStore(image), new Sink());
            Assert.Superset(durable.ToHashSet(), reopened.MarkedRegions.ToHashSet());
            Assert.All(reopened.MarkedRegions, r => Assert.True(durable.Contains(r) || r == 40000));
        }
    }

    [Fact]
    public void Reopening_after_a_crash_keeps_every_bit_and_continues_the_sequence()
    {
        var store = new MemoryTrackerStore();
        var tracker = Open(store, new Sink());
        foreach (int r in new[] { 3, 9, 12, 63 })
        {
            tracker.Admit(Discard(r));
            tracker.RunCommit();
        }

        using var reopened = Open(new MemoryTrackerStore(store.CrashImage()), new Sink());
        Assert.Equal([3L, 9, 12, 63], reopened.MarkedRegions);
        Assert.Equal(1UL, reopened.Generation);

        // It goes on committing into the right slot: a second crash keeps the new bit and the old ones.
        var store2 = new MemoryTrackerStore(store.CrashImage());
        var again = Open(store2, new Sink());
        again.Admit(Discard(20));
        again.RunCommit();
        using var third = Open(new MemoryTrackerStore(store2.CrashImage()), new Sink());
        Assert.Equal([3L, 9, 12, 20, 63], third.MarkedRegions);
    }

    [Fact]
    public void A_new_metadata_file_is_durable_before_the_tracker_opens()
    {
        var store = new MemoryTrackerStore();
        using var tracker = Open(store, new Sink());
        Assert.Equal(1, store.Syncs);
        using var reopened = Open(new MemoryTrackerStore(store.CrashImage()), new Sink());
        Assert.Empty(reopened.MarkedRegions);
    }

    [Fact]
    public void Metadata_with_no_valid_slot_or_another_region_size_is_refused()
    {
        var garbage = new MemoryTrackerStore(Enumerable.Repeat((byte)0xAB, 16384).ToArray());
        Assert.Throws<InvalidDataException>(() => Open(garbage, new Sink()));

        var store = new MemoryTrackerStore();
        Open(store, new Sink());
        var other = new TrackerOptions { MetadataPath = "", RegionSize = Region * 2, ManualCommits = true };
        Assert.Throws<InvalidDataException>(() => new ChangeTracker(new MemoryTrackerStore(store.CrashImage()), Device, 512, other));
    }

    [Theory]
    [InlineData(3000, 512)]
    [InlineData(256, 512)]
    [InlineData(2048, 4096)]
    public void Region_sizes_must_be_powers_of_two_of_at_least_a_block(int regionSize, int blockSize)
    {
        var options = new TrackerOptions { MetadataPath = "", RegionSize = regionSize, ManualCommits = true };
        Assert.Throws<ArgumentOutOfRangeException>(() => new ChangeTracker(new MemoryTrackerStore(), Device, blockSize, options));
    }

    [Fact]
    public void The_file_store_survives_a_reopen()
    {
        string dir = Directory.CreateTempSubdirectory("cbt-").FullName;
        try
        {
            var options = new TrackerOptions { MetadataPath = Path.Combine(dir, "dev.cbt"), RegionSize = Region, ManualCommits = true };
            using (ChangeTracker t = ChangeTracker.Open(options, Device, 512))
            {
                t.Attach(new Sink());
                t.Admit(Discard(5));
                t.RunCommit();
                t.Admit(Discard(6));
                t.RunCommit();
            }

            using ChangeTracker back = ChangeTracker.Open(options, Device, 512);
            Assert.Equal([5L, 6], back.MarkedRegions);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    private static ChangeTracker Open(MemoryTrackerStore store, Sink sink)
    {
        var t = new ChangeTracker(store, Device, 512, new TrackerOptions { MetadataPath = "", RegionSize = Region, ManualCommits = true });
        t.Attach(sink);
        return t;
    }

    private static BlockRequest Discard(int region)
    {
        var r = new BlockRequest(0, region, new Sink());
        r.Prepare(BlockOp.Discard, RequestFlags.None, (ulong)region * (Region / 512), 8, RequestBuffer.None);
        return r;
    }

    private sealed class Sink : IGateSink, IRequestCompletion
    {
        public List<BlockRequest> Released { get; } = [];

        public void Release(BlockRequest write) => Released.Add(write);

        public void Fail(BlockRequest write, int result)
        {
        }

        public void Complete(BlockRequest request, int result)
        {
        }
    }
}
