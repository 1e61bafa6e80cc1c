using LoopOrder.Queues.Ordering;
using LoopOrder.Queues.Requests;
using LoopOrder.Verification;
using LoopOrder.Verification.Faults;
using LoopOrder.Verification.Mutants;

namespace LoopOrder.Verification.Tests;

/// <summary>The generator, the controlled scheduler, fault injection, replay and the shrinker.</summary>
public sealed class SchedulerTests
{
    private static readonly WorkloadShape Shape = new();

    [Fact]
    public void ASeedReproducesTheRunExactly()
    {
        WorkloadRun a = ControlledScheduler.Run(12345, OrderingMode.Drain, EngineMutant.None, Shape);
        WorkloadRun b = ControlledScheduler.Run(12345, OrderingMode.Drain, EngineMutant.None, Shape);
        Assert.Equal(a.Workload.Ops, b.Workload.Ops);
        Assert.Equal(a.Script, b.Script);
        Assert.Equal(a.Recorder.Events, b.Recorder.Events);
        Assert.NotEqual(a.Recorder.Events, ControlledScheduler.Run(12346, OrderingMode.Drain, EngineMutant.None, Shape).Recorder.Events);
    }

    [Fact]
    public void ReplayingTheScriptReproducesTheTrace()
    {
        for (ulong seed = 1; seed <= 50; seed++)
        {
            WorkloadRun run = ControlledScheduler.Run(seed, OrderingMode.Strict, EngineMutant.None, Shape);
            WorkloadRun replay = ControlledScheduler.Replay(run.Workload, run.Script, seed, run.Mode, run.Mutant, run.CapacitySectors);
            Assert.Equal(run.Recorder.Events, replay.Recorder.Events);
        }
    }

    [Fact]
    public void WorkloadsOverlapAndMixEveryOp()
    {
        var ops = new List<WorkloadOp>();
        for (ulong seed = 1; seed <= 100; seed++)
        {
            ops.AddRange(ControlledScheduler.Run(seed, OrderingMode.Drain, EngineMutant.None, Shape).Workload.Ops);
        }

        foreach (BlockOp op in new[] { BlockOp.Read, BlockOp.Write, BlockOp.Flush, BlockOp.Discard, BlockOp.WriteZeroes })
        {
            Assert.Contains(ops, o => o.Op == op);
        }

        Assert.Contains(ops, o => o.Flags.HasFlag(RequestFlags.Fua));
        Assert.Contains(ops, o => o.Op == BlockOp.Write && o.SectorCount == Shape.MaxSectors);
        Assert.Contains(ops, o => o.Op == BlockOp.Write && o.SectorCount == 1);
        Assert.Contains(ops, o => o.Queue == Shape.MaxQueues - 1);
    }

    [Fact]
    public void RequestsRunConcurrentlyAndOverlap()
    {
        int overlappingInFlight = 0;
        for (ulong seed = 1; seed <= 50; seed++)
        {
            WorkloadRun run = ControlledScheduler.Run(seed, OrderingMode.Drain, EngineMutant.None, Shape);
            var open = new HashSet<long>();
            foreach (TraceEvent e in run.Recorder.Events)
            {
                RequestRecord r = run.Recorder.Requests[(int)e.Sequence - 1];
                if (e.Kind == TraceEventKind.Receive && r.IsWriteClass)
                {
                    overlappingInFlight += open.Count(o => run.Recorder.Requests[(int)o - 1].Overlaps(r));
                    open.Add(e.Sequence);
                }
                else if (e.Kind == TraceEventKind.Acknowledge)
                {
                    open.Remove(e.Sequence);
                }
            }
        }

        Assert.True(overlappingInFlight > 100, $"only {overlappingInFlight} overlapping writes were received while another was in flight");
    }

    [Fact]
    public void ShortWriteLandsAPrefixAndFails()
    {
        var workload = new Workload(
            [
                new WorkloadOp(0, BlockOp.Write, RequestFlags.None, 0, 4, 1),
                new WorkloadOp(1, BlockOp.Read, RequestFlags.None, 0, 4, 0),
            ],
            [1, 1],
            0.5,
            0);
        ScheduleAction[] script =
        [
            new(ScheduleActionKind.Submit, 0),
            new(ScheduleActionKind.Complete, 0, Fault.ShortNoSpace(3)),
            new(ScheduleActionKind.Submit, 1),
        ];
        WorkloadRun run = ControlledScheduler.Replay(workload, script, 9, OrderingMode.Drain, EngineMutant.None, 64);
        Assert.Empty(run.Violations);
        Assert.Equal(-28, run.Recorder.Events.Single(e => e.Kind == TraceEventKind.Acknowledge && e.Sequence == 1).Result);
        IReadOnlyList<SectorValue> read = run.Recorder.ReadData(2)!;
        Assert.Equal([1UL, 1UL, 1UL, 0UL], read.Select(v => v.WriteId));
    }

    [Fact]
    public void FaultsReachTheEngineAndLatch()
    {
        bool syncFailed = false, flushFailedAfter = false;
        for (ulong seed = 1; seed <= 300 && !(syncFailed && flushFailedAfter); seed++)
        {
            WorkloadRun run = ControlledScheduler.Run(seed, OrderingMode.Drain, EngineMutant.None, Shape);
            Assert.Empty(run.Violations);
            TraceEvent[] events = run.Recorder.Events;
            int failed = Array.FindIndex(events, e => e.Kind == TraceEventKind.SyncEnd && e.Result < 0);
            if (failed >= 0)
            {
                syncFailed = true;
                flushFailedAfter |= events.Skip(failed).Any(e =>
                    e.Kind == TraceEventKind.Receive && run.Recorder.Requests[(int)e.Sequence - 1].Op == BlockOp.Flush);
            }
        }

        Assert.True(syncFailed && flushFailedAfter, "no workload failed a sync and then flushed again");
    }

    [Fact]
    public void ShrinkerFindsASmallerFailureOfTheSameInvariant()
    {
        WorkloadRun failing = Enumerable.Range(1, 100)
            .Select(s => ControlledScheduler.Run((ulong)s, OrderingMode.Drain, EngineMutant.ReorderOverlap, Shape))
            .First(r => r.Violations.Any(v => v.Invariant == Invariant.D3) && r.Workload.Ops.Count > 10);
        WorkloadRun small = Shrinker.Shrink(failing, Invariant.D3);
        Assert.Contains(small.Violations, v => v.Invariant == Invariant.D3);
        Assert.Equal(2, small.Workload.Ops.Count); // two overlapping writes are the least that can reorder
        Assert.Equal(small.Recorder.Events,
            ControlledScheduler.Replay(small.Workload, small.Script, small.Seed, small.Mode, small.Mutant, small.CapacitySectors).Recorder.Events);
        Assert.Contains("D3:", small.Format(), StringComparison.Ordinal);
    }
}
