using LoopOrder.Queues.Ordering;
using LoopOrder.Verification.Mutants;
using LoopOrder.Verification.Snapshots;

namespace LoopOrder.Verification.Tests;

/// <summary>
/// The snapshot rule on recorded traces and on the images themselves: the Sequencer's barrier as
/// designed passes in every mode; a barrier that does not hold later writes, and a flush that
/// does not wait for earlier ones, are caught.
/// </summary>
public sealed class SnapshotCheckerTests
{
    private const int Seeds = 200;

    [Theory]
    [InlineData(OrderingMode.Drain)]
    [InlineData(OrderingMode.Strict)]
    [InlineData(OrderingMode.None)]
    public void The_barrier_as_designed_gives_snapshots_of_exactly_the_writes_before_it(OrderingMode mode)
    {
        int snapshots = 0, heldAtCut = 0;
        for (ulong seed = 1; seed <= Seeds; seed++)
        {
            SnapshotRunResult run = SnapshotRun.Run(seed, EngineMutant.None, mode: mode);

            // Mode none breaks D1 for its ordinary flushes by design (CampaignTests); the barrier must add nothing to that.
            var broken = run.Violations.Where(v => mode != OrderingMode.None || v.Invariant != Invariant.D1).ToList();
            Assert.True(broken.Count == 0, $"seed {seed}: {string.Join("; ", broken.Take(5))}");
            snapshots += run.Snapshots.Count;
            heldAtCut += HeldAtCut(run);
        }

        // The runs exercised the rule: snapshots were cut while later writes waited behind them.
        Assert.True(snapshots >= Seeds, $"{snapshots} snapshots");
        Assert.True(heldAtCut > Seeds / 4, $"{heldAtCut} writes were held at a cut");
    }

    [Theory]
    [InlineData(OrderingMode.Drain)]
    [InlineData(OrderingMode.Strict)]
    [InlineData(OrderingMode.None)]
    public void A_barrier_that_does_not_hold_later_writes_is_caught(OrderingMode mode) =>
        AssertCaught(EngineMutant.SnapshotNoHold, mode);

    [Fact]
    public void A_barrier_that_does_not_wait_for_earlier_writes_is_caught() =>
        AssertCaught(EngineMutant.FlushWithoutWait, OrderingMode.Drain);

    [Fact]
    public void A_snapshot_image_that_lost_a_write_is_caught()
    {
        for (ulong seed = 1; seed <= Seeds; seed++)
        {
            SnapshotRunResult run = SnapshotRun.Run(seed);
            foreach ((long barrier, byte[] image) in run.Snapshots)
            {
                int written = Array.FindIndex(image, b => b != 0) / 512;
                if (written < 0)
                {
                    continue;
                }

                Assert.Empty(SnapshotChecker.CheckImage(run.Recorder, barrier, image));
                image.AsSpan(written * 512, 512).Clear(); // as if that write had not reached the snapshot
                Violation v = Assert.Single(SnapshotChecker.CheckImage(run.Recorder, barrier, image));
                Assert.Equal(Invariant.Snapshot, v.Invariant);
                Assert.Contains($"sector {written} ", v.Message, StringComparison.Ordinal);
                return;
            }
        }

        Assert.Fail("no snapshot held a write");
    }

    private static void AssertCaught(EngineMutant mutant, OrderingMode mode)
    {
        int caught = 0;
        for (ulong seed = 1; seed <= Seeds; seed++)
        {
            if (SnapshotRun.Run(seed, mutant, mode: mode).Violations.Any(v => v.Invariant == Invariant.Snapshot))
            {
                caught++;
            }
        }

        Assert.True(caught > 0, $"{mutant} in {mode}: no seed of {Seeds} broke the snapshot rule");
    }

    /// <summary>Write-class requests received after a barrier that had not started landing when it was cut.</summary>
    private static int HeldAtCut(SnapshotRunResult run)
    {
        TraceEvent[] events = run.Recorder.Events;
        int held = 0;
        foreach (TraceEvent cut in events.Where(e => e.Kind == TraceEventKind.Cut))
        {
            held += run.Recorder.Requests.Count(r => r.IsWriteClass && r.Sequence > cut.Sequence && r.ReceiveClock < cut.Clock);
        }

        return held;
    }
}
