using LoopOrder.Queues.Ordering;
using LoopOrder.Verification.Mutants;
using LoopOrder.Verification.Tracking;

namespace LoopOrder.Verification.Tests;

/// <summary>The CBT rule on recorded traces: the tracker as designed passes, the mutant that skips the mark wait is caught.</summary>
public sealed class TrackingCheckerTests
{
    private const int Seeds = 150;

    [Theory]
    [InlineData(OrderingMode.Drain)]
    [InlineData(OrderingMode.Strict)]
    [InlineData(OrderingMode.None)]
    public void The_tracker_as_designed_never_lets_a_write_land_before_its_mark(OrderingMode mode)
    {
        long commits = 0, held = 0;
        for (ulong seed = 1; seed <= Seeds; seed++)
        {
            TrackingRunResult run = TrackingRun.Run(seed, EngineMutant.None, mode: mode);

            // Mode none breaks D1 by design (CampaignTests); tracking must add nothing to that.
            var broken = run.Violations.Where(v => mode != OrderingMode.None || v.Invariant != Invariant.D1).ToList();
            Assert.True(broken.Count == 0, $"seed {seed}: {string.Join("; ", broken)}");
            commits += run.Commits;
            held += run.HeldWrites;
        }

        // The runs exercised the rule: writes were held and commits grouped them.
        Assert.True(held > 0 && commits > 0, $"held {held}, commits {commits}");
        Assert.True(commits < held, $"group commit: {commits} commits for {held} held writes");
    }

    [Fact]
    public void Dispatching_before_the_mark_is_caught()
    {
        int caught = 0;
        for (ulong seed = 1; seed <= Seeds; seed++)
        {
            TrackingRunResult run = TrackingRun.Run(seed, EngineMutant.DispatchBeforeMark);
            Assert.All(run.Violations, v => Assert.Equal(Invariant.Tracked, v.Invariant));
            caught += run.Violations.Count > 0 ? 1 : 0;
        }

        Assert.True(caught > Seeds / 2, $"caught in {caught} of {Seeds} runs");
    }

    [Fact]
    public void The_checker_flags_a_land_start_with_no_mark_and_names_it()
    {
        TrackingRunResult run = TrackingRun.Run(7, EngineMutant.DispatchBeforeMark);
        Violation v = Assert.IsType<Violation>(run.Violations.FirstOrDefault(), exactMatch: false);
        Assert.Contains("started landing at e", v.Message, StringComparison.Ordinal);
        Assert.Contains("region", v.Message, StringComparison.Ordinal);

        // The same trace with every mark moved before the first event passes: the rule is about order only.
        var early = run.Marks.Select(m => m with { AfterClock = 0 }).ToList();
        Assert.Empty(TrackingChecker.Check(run.Recorder, early, TrackingRun.RegionSize));
    }

    [Theory]
    [InlineData(OrderingMode.Drain)]
    [InlineData(OrderingMode.Strict)]
    public void With_snapshots_at_seeded_instants_every_generation_tracks_what_changed_in_it(OrderingMode mode)
    {
        int generations = 0;
        for (ulong seed = 1; seed <= Seeds; seed++)
        {
            TrackingRunResult run = TrackingRun.Run(seed, EngineMutant.None, requests: 60, mode: mode, snapshots: 4);
            Assert.True(run.Violations.Count == 0, $"seed {seed}: {string.Join("; ", run.Violations)}");
            generations += run.Barriers.Count;
        }

        // The runs exercised the switch: most placed several barriers.
        Assert.True(generations > Seeds, $"{generations} generations closed in {Seeds} runs");
    }

    [Fact]
    public void Dispatching_before_the_mark_is_still_caught_with_snapshots()
    {
        int caught = 0;
        for (ulong seed = 1; seed <= Seeds; seed++)
        {
            TrackingRunResult run = TrackingRun.Run(seed, EngineMutant.DispatchBeforeMark, requests: 60, snapshots: 4);
            Assert.All(run.Violations, v => Assert.Equal(Invariant.Tracked, v.Invariant));
            caught += run.Violations.Count > 0 ? 1 : 0;
        }

        Assert.True(caught > Seeds / 2, $"caught in {caught} of {Seeds} runs");
    }

    [Fact]
    public void Closing_the_generation_after_releasing_the_barrier_is_caught()
    {
        int caught = 0;
        for (ulong seed = 1; seed <= Seeds; seed++)
        {
            TrackingRunResult run = TrackingRun.Run(seed, EngineMutant.LateGenerationClose, requests: 60, snapshots: 4);
            Assert.All(run.Violations, v => Assert.Equal(Invariant.Tracked, v.Invariant));
            if (run.Violations.Count > 0)
            {
                caught++;
                Assert.Contains("in its generation", run.Violations[0].Message, StringComparison.Ordinal);
            }
        }

        Assert.True(caught > Seeds / 4, $"caught in {caught} of {Seeds} runs");
    }
}
