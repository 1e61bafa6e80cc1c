using FsCheck;
using FsCheck.Fluent;
using LoopOrder.Queues.Requests;
using LoopOrder.Queues.Tracking;
using LoopOrder.Verification.Tracking;

namespace LoopOrder.Queues.Tests.Tracking;

/// <summary>
/// The CBT promise as a property: over random workloads and schedules, a crash at any event
/// (including in the middle of a metadata commit, with its write torn at random) leaves metadata
/// whose reopened tracker marks every region of every write, discard or write-zeroes that had
/// reached the backend, in that write's generation: snapshot barriers are placed at random
/// instants and, once acknowledged, close the generation and release the writes held behind them.
/// </summary>
public sealed class CrashPropertyTests
{
    private const ulong Sectors = TrackingHarness.DeviceBytes / 512;

    [Fact]
    public void Tracked_regions_after_a_crash_at_any_event_cover_every_write_that_reached_the_backend()
    {
        Arbitrary<int[]> workloads = Arb.From(Gen.ArrayOf(Gen.Choose(0, int.MaxValue)));
        Check.One(Config.QuickThrowOnFailure.WithMaxTest(200), Prop.ForAll(workloads, Holds));
    }

    private static bool Holds(int[] actions)
    {
        using var h = new TrackingHarness();
        int crashes = 0;
        string? failure = null;
        var closed = new List<long>();
        BlockRequest? barrier = null;
        Action<string>? log = h.Store.Log;
        h.Store.Log = e =>
        {
            log?.Invoke(e);
            failure ??= CrashNow(h, closed, ++crashes);
        };

        // As BlockEngine.Snapshot: once the barrier is acknowledged, close the generation while it holds, then release.
        bool SnapshotStep()
        {
            if (barrier is null || !h.Acks.ContainsKey(barrier))
            {
                return false;
            }

            h.Tracker.CloseGeneration();
            closed.Add(barrier.Seq);
            barrier = null;
            h.Sequencer.ReleaseBarrier();
            return true;
        }

        foreach (int v in actions)
        {
            switch (v % 5)
            {
                case 0 or 1 when h.Sequencer.Outstanding < 16:
                    uint count = 1 + (uint)((v >> 20) % 64);
                    ulong start = (ulong)(v >> 3) % (Sectors - count);
                    h.Submit(v % 5 == 0 ? BlockOp.Write : ((v >> 6) & 1) == 0 ? BlockOp.Discard : BlockOp.WriteZeroes, start, count);
                    break;
                case 2 or 0 or 1 when h.Backend.PendingCount > 0:
                    h.Backend.Complete(h.Backend.Pending[(v >> 3) % h.Backend.PendingCount]);
                    break;
                case 3:
                    h.Tracker.RunCommit();
                    break;
                case 4 when barrier is null && ((v >> 3) & 3) == 0:
                    barrier = new BlockRequest(-1, 0, h);
                    barrier.Prepare(BlockOp.Flush, RequestFlags.None, 0, 0, RequestBuffer.None);
                    h.Sequencer.PlaceBarrier(barrier);
                    h.Submitted.Add(barrier); // it takes a sequence number: keep Submitted[seq - 1] aligned
                    break;
                case 4 when h.Sequencer.Outstanding < 16:
                    h.Submit(BlockOp.Flush, 0, 0);
                    break;
            }

            SnapshotStep();
            failure ??= CrashNow(h, closed, ++crashes);
        }

        // Drain: every request ends, and a crash after it still covers everything that landed.
        while (h.Tracker.RunCommit() || h.Backend.CompleteOldest() || SnapshotStep())
        {
            failure ??= CrashNow(h, closed, ++crashes);
        }

        if (h.Sequencer.Outstanding != 0)
        {
            failure ??= $"{h.Sequencer.Outstanding} requests never finished";
        }

        Assert.True(failure is null, failure);
        return true;
    }

    /// <summary>Reopens what a power cut now could leave (unsynced metadata torn at random) and compares it with what reached the backend.</summary>
    /// <param name="h">The run.</param>
    /// <param name="closed">The sequence numbers of the barriers whose generation has closed: a write's generation is 1 plus those before it.</param>
    /// <param name="instant">The crash's number (seeds the tearing).</param>
    private static string? CrashNow(TrackingHarness h, List<long> closed, int instant)
    {
        byte[] image = h.Store.CrashImage(new Random(instant));
        var options = new TrackerOptions { MetadataPath = "", RegionSize = TrackingHarness.RegionSize, ManualCommits = true };
        using var reopened = new ChangeTracker(new MemoryTrackerStore(image), TrackingHarness.DeviceBytes, 512, options);
        var sets = new Dictionary<ulong, HashSet<long>>();
        foreach (string e in h.Log)
        {
            if (!e.StartsWith("start #", StringComparison.Ordinal))
            {
                continue;
            }

            BlockRequest r = h.Submitted[int.Parse(e.AsSpan(7), System.Globalization.CultureInfo.InvariantCulture) - 1];
            if (!r.IsWriteClass)
            {
                continue;
            }

            ulong generation = 1 + (ulong)closed.Count(b => b < r.Seq);
            if (generation > reopened.Generation)
            {
                return $"crash at instant {instant}: {r} is in generation {generation} but the reopened tracker is at {reopened.Generation}";
            }

            if (!sets.TryGetValue(generation, out HashSet<long>? marked))
            {
                sets[generation] = marked = reopened.ChangedSince(generation - 1, generation).SetRegions().ToHashSet();
            }

            (long first, long last) = reopened.RegionsOf(r.StartSector, r.SectorCount);
            for (long region = first; region <= last; region++)
            {
                if (!marked.Contains(region))
                {
                    return $"crash at instant {instant}: {r} reached the backend but region {region} is not tracked in its generation {generation} after reopening";
                }
            }
        }

        return null;
    }
}
