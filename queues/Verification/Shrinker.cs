using LoopOrder.Queues.Requests;
using LoopOrder.Verification.Faults;

namespace LoopOrder.Verification;

/// <summary>
/// Shrinks a failing run to a small one that still breaks the same invariant, by delta debugging
/// over the workload and the recorded schedule: drop chunks of requests (with their steps), drop
/// steps, clear faults, shrink extents and drop FUA, replaying the script after each change and
/// keeping it when the invariant still fails. Deterministic: the same failure shrinks the same way.
/// </summary>
public static class Shrinker
{
    /// <summary>Replays allowed by default: each is a small run, so this stays well under a second.</summary>
    public const int DefaultBudget = 4000;

    /// <summary>Shrinks <paramref name="failing"/> while it still violates <paramref name="target"/>.</summary>
    public static WorkloadRun Shrink(WorkloadRun failing, Invariant target, int budget = DefaultBudget)
    {
        ArgumentNullException.ThrowIfNull(failing);
        var state = new State(failing, target, budget);
        if (!state.Holds(failing))
        {
            return failing;
        }

        bool changed = true;
        while (changed && state.Budget > 0)
        {
            changed = state.DropOps();
            changed |= state.DropActions();
            changed |= state.ClearFaults();
            changed |= state.Simplify();
        }

        return state.Best;
    }

    private sealed class State(WorkloadRun best, Invariant target, int budget)
    {
        public WorkloadRun Best { get; private set; } = best;

        public int Budget { get; private set; } = budget;

        public bool Holds(WorkloadRun run) => run.Violations.Any(v => v.Invariant == target);

        /// <summary>Removes chunks of ops, halving the chunk size down to one.</summary>
        public bool DropOps()
        {
            bool any = false;
            for (int size = Math.Max(1, Best.Workload.Ops.Count / 2); size >= 1; size /= 2)
            {
                for (int start = 0; start < Best.Workload.Ops.Count && Budget > 0;)
                {
                    int end = Math.Min(start + size, Best.Workload.Ops.Count);
                    if (Best.Workload.Ops.Count > end - start && Try(WithoutOps(start, end)))
                    {
                        any = true;
                    }
                    else
                    {
                        start += size;
                    }
                }
            }

            return any;
        }

        /// <summary>Removes chunks of schedule steps (their ops then run in the final drain).</summary>
        public bool DropActions()
        {
            bool any = false;
            for (int size = Math.Max(1, Best.Script.Count / 2); size >= 1; size /= 2)
            {
                for (int start = 0; start < Best.Script.Count && Budget > 0;)
                {
                    int end = Math.Min(start + size, Best.Script.Count);
                    var script = Best.Script.Take(start).Concat(Best.Script.Skip(end)).ToList();
                    if (Try(Best.Workload, script))
                    {
                        any = true;
                    }
                    else
                    {
                        start += size;
                    }
                }
            }

            return any;
        }

        public bool ClearFaults()
        {
            bool any = false;
            for (int i = 0; i < Best.Script.Count && Budget > 0; i++)
            {
                if (!Best.Script[i].Fault.IsNone)
                {
                    var script = Best.Script.ToList();
                    script[i] = script[i] with { Fault = Fault.None };
                    any |= Try(Best.Workload, script);
                }
            }

            return any;
        }

        /// <summary>Shrinks each extent to one sector (or half) and drops FUA.</summary>
        public bool Simplify()
        {
            bool any = false;
            for (int i = 0; i < Best.Workload.Ops.Count && Budget > 0; i++)
            {
                WorkloadOp op = Best.Workload.Ops[i];
                if (op.Flags.HasFlag(RequestFlags.Fua))
                {
                    any |= Try(WithOp(i, op with { Flags = op.Flags & ~RequestFlags.Fua }), Best.Script);
                }

                op = Best.Workload.Ops[i];
                if (op.SectorCount > 1 && op.Op != BlockOp.Flush)
                {
                    if (!Try(WithOp(i, op with { SectorCount = 1 }), Best.Script))
                    {
                        any |= Try(WithOp(i, op with { SectorCount = op.SectorCount / 2 }), Best.Script);
                    }
                    else
                    {
                        any = true;
                    }
                }
            }

            return any;
        }

        private bool Try((Workload Workload, List<ScheduleAction> Script) candidate) => Try(candidate.Workload, candidate.Script);

        private bool Try(Workload workload, IReadOnlyList<ScheduleAction> script)
        {
            if (Budget <= 0)
            {
                return false;
            }

            Budget--;
            WorkloadRun run = ControlledScheduler.Replay(workload, script, Best.Seed, Best.Mode, Best.Mutant, Best.CapacitySectors);
            if (!Holds(run))
            {
                return false;
            }

            Best = run;
            return true;
        }

        private Workload WithOp(int index, WorkloadOp op)
        {
            var ops = Best.Workload.Ops.ToList();
            ops[index] = op;
            return Best.Workload with { Ops = ops };
        }

        /// <summary>The workload without ops [start, end), and the script renumbered to match.</summary>
        private (Workload, List<ScheduleAction>) WithoutOps(int start, int end)
        {
            int removed = end - start;
            var ops = Best.Workload.Ops.Take(start).Concat(Best.Workload.Ops.Skip(end)).ToList();
            var script = new List<ScheduleAction>(Best.Script.Count);
            foreach (ScheduleAction a in Best.Script)
            {
                if (a.Op < start)
                {
                    script.Add(a);
                }
                else if (a.Op >= end)
                {
                    script.Add(a with { Op = a.Op - removed });
                }
            }

            return (Best.Workload with { Ops = ops }, script);
        }
    }
}
