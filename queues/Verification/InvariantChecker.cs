using LoopOrder.Interop;
using LoopOrder.Queues.Ordering;
using LoopOrder.Queues.Requests;

namespace LoopOrder.Queues.Verification;

/// <summary>
/// Holds a recorded trace to every invariant of DESIGN.md: C1–C5 and D3 in every mode, D1 in
/// every mode (drain and strict promise it; in none it fails, which shows what the loop driver
/// lacks), D2 in strict, the power-cut model, invalid requests and liveness. Each violation names
/// the requests (#sequence) and events (e clock) involved. Call once the device is quiet.
/// </summary>
public static class InvariantChecker
{
    /// <summary>Checks the trace on <paramref name="recorder"/> of a device of <paramref name="capacitySectors"/> sectors run in <paramref name="mode"/>.</summary>
    public static IReadOnlyList<Violation> Check(TraceRecorder recorder, OrderingMode mode, ulong capacitySectors)
    {
        ArgumentNullException.ThrowIfNull(recorder);
        var view = new TraceView(recorder);
        var found = new List<Violation>();
        Check(view, mode, capacitySectors, found);
        return found;
    }

    internal static void Check(TraceView view, OrderingMode mode, ulong capacitySectors, List<Violation> found)
    {
        CheckLiveness(view, found);
        CheckInvalid(view, capacitySectors, found);
        CheckC1(view, found);
        CheckC2(view, found);
        CheckC3(view, found);
        CheckC4(view, found);
        CheckC5(view, found);
        CheckD1(view, found);
        if (mode == OrderingMode.Strict)
        {
            CheckD2(view, found);
        }

        CheckD3(view, found);
        new PowerCutModel(view, mode, capacitySectors).Check(found);
    }

    /// <summary>True when the device must turn the request away (DESIGN.md: outside the device, zero length, unknown op).</summary>
    internal static bool IsInvalid(in RequestRecord r, ulong capacitySectors) =>
        r.Op switch
        {
            BlockOp.Flush => false,
            BlockOp.Read or BlockOp.Write or BlockOp.Discard or BlockOp.WriteZeroes =>
                r.SectorCount == 0 || r.StartSector >= capacitySectors || capacitySectors - r.StartSector < r.SectorCount,
            _ => true,
        };

    private static void CheckLiveness(TraceView view, List<Violation> found)
    {
        for (long seq = 1; seq <= view.Requests.Length; seq++)
        {
            Timeline t = view.Of(seq);
            if (t.Acks != 1)
            {
                found.Add(new Violation(Invariant.Liveness, t.Acks == 0
                    ? $"{view.Describe(seq)} was never acknowledged"
                    : $"{view.Describe(seq)} was acknowledged {t.Acks} times"));
            }

            if (t.Starts > 1 || t.Ends != t.Starts)
            {
                found.Add(new Violation(Invariant.Liveness,
                    $"{view.Describe(seq)} started {t.Starts} and ended {t.Ends} times in the backend"));
            }
        }
    }

    private static void CheckInvalid(TraceView view, ulong capacitySectors, List<Violation> found)
    {
        foreach (RequestRecord r in view.Requests)
        {
            Timeline t = view.Of(r.Sequence);
            if (IsInvalid(r, capacitySectors) && (t.Starts > 0 || !t.AckedError))
            {
                found.Add(new Violation(Invariant.Invalid,
                    $"{view.Describe(r.Sequence)} is outside a device of {capacitySectors} sectors, empty or of an unknown op, yet it " +
                    (t.Starts > 0 ? $"reached the backend at e{t.LandStart}" : "did not fail")));
            }
        }
    }

    /// <summary>C1: a successful flush covers every write acknowledged before it was received.</summary>
    private static void CheckC1(TraceView view, List<Violation> found)
    {
        foreach (RequestRecord f in view.Requests)
        {
            Timeline ft = view.Of(f.Sequence);
            if (f.Op != BlockOp.Flush || !ft.AckedOk)
            {
                continue;
            }

            long durablePoint = view.LatestDurablePoint(ft.Ack);
            long first = 0;
            int count = 0;
            foreach (RequestRecord w in view.Requests)
            {
                Timeline wt = view.Of(w.Sequence);
                if (!w.IsWriteClass || !wt.AckedOk || wt.Ack > ft.Receive || IsFuaDurable(w, wt, ft.Ack) ||
                    (wt.LandedOk && wt.LandEnd < durablePoint))
                {
                    continue;
                }

                first = first == 0 ? w.Sequence : first;
                count++;
            }

            if (count > 0)
            {
                found.Add(new Violation(Invariant.C1,
                    $"flush {view.Describe(f.Sequence)} succeeded, but {view.Describe(first)}, acknowledged before the flush was " +
                    $"received, did not land before a successful sync that ended before the flush's ack (latest such sync started " +
                    $"{TraceView.Clock(durablePoint)}){More(count)}"));
            }
        }
    }

    /// <summary>C2: a FUA write is durable before its acknowledgement: landed with FUA, or covered by a sync that ended before it.</summary>
    private static void CheckC2(TraceView view, List<Violation> found)
    {
        foreach (RequestRecord w in view.Requests)
        {
            Timeline t = view.Of(w.Sequence);
            if (w.Op != BlockOp.Write || !w.Flags.HasFlag(RequestFlags.Fua) || !t.AckedOk || IsFuaDurable(w, t, t.Ack) ||
                (t.LandedOk && view.LatestDurablePoint(t.Ack) > t.LandEnd))
            {
                continue;
            }

            string how = !t.LandedOk ? "its bytes had not landed"
                : !t.LandFlags.HasFlag(RequestFlags.Fua) ? "the backend wrote it without FUA and no sync covered it"
                : "it was not yet durable";
            found.Add(new Violation(Invariant.C2, $"FUA write {view.Describe(w.Sequence)} was acknowledged at e{t.Ack} but {how}"));
        }
    }

    /// <summary>C3: a write-class request is acknowledged (successfully) only after its bytes landed.</summary>
    private static void CheckC3(TraceView view, List<Violation> found)
    {
        foreach (RequestRecord w in view.Requests)
        {
            Timeline t = view.Of(w.Sequence);
            if (w.IsWriteClass && t.AckedOk && !(t.Ends > 0 && t.LandEnd < t.Ack))
            {
                found.Add(new Violation(Invariant.C3,
                    $"{view.Describe(w.Sequence)} was acknowledged at e{t.Ack} before its bytes landed ({TraceView.Clock(t.LandEnd)})"));
            }
        }
    }

    /// <summary>C4: each sector a read returns is whole, in place, and from a write it may see.</summary>
    private static void CheckC4(TraceView view, List<Violation> found)
    {
        foreach (RequestRecord r in view.Requests)
        {
            Timeline rt = view.Of(r.Sequence);
            if (r.Op != BlockOp.Read || !rt.AckedOk)
            {
                continue;
            }

            IReadOnlyList<SectorValue>? data = view.Recorder.ReadData(r.Sequence);
            if (data is null)
            {
                found.Add(new Violation(Invariant.C4, $"read {view.Describe(r.Sequence)} succeeded without any data landing"));
                continue;
            }

            string? firstProblem = null;
            int bad = 0;
            for (int i = 0; i < data.Count; i++)
            {
                ulong sector = r.StartSector + (ulong)i;
                string? problem = JudgeReadSector(view, r, rt, sector, data[i]);
                if (problem is not null)
                {
                    firstProblem ??= problem;
                    bad++;
                }
            }

            if (firstProblem is not null)
            {
                found.Add(new Violation(Invariant.C4, $"read {view.Describe(r.Sequence)}: {firstProblem}{More(bad)}"));
            }
        }
    }

    private static string? JudgeReadSector(TraceView view, in RequestRecord r, in Timeline rt, ulong sector, SectorValue value)
    {
        if (value.Status is not (SectorStatus.Valid or SectorStatus.Zero))
        {
            return $"sector {sector} is {value}";
        }

        // The newest write acknowledged before the read was received supersedes everything received before it.
        long newestAcked = 0;
        foreach (RequestRecord w in view.Requests)
        {
            Timeline wt = view.Of(w.Sequence);
            if (w.IsWriteClass && w.Covers(sector) && wt.AckedOk && wt.Ack < rt.Receive)
            {
                newestAcked = w.Sequence;
            }
        }

        if (value.Status == SectorStatus.Zero && newestAcked == 0)
        {
            return null;
        }

        foreach (RequestRecord w in view.Requests)
        {
            Timeline wt = view.Of(w.Sequence);
            if (w.Sequence >= newestAcked && w.IsWriteClass && w.Covers(sector) && !wt.Rejected && wt.Receive < rt.Ack &&
                ValueOf(w) == value.WriteId)
            {
                return null;
            }
        }

        return $"sector {sector} returned {value}, which no write it may see produced" +
               (newestAcked != 0 ? $" (it must be {view.Describe(newestAcked)}, acknowledged before the read, or newer)" : "");
    }

    /// <summary>C5: failures fail their request; a successful flush rests on a successful sync that started before any failure.</summary>
    private static void CheckC5(TraceView view, List<Violation> found)
    {
        foreach (RequestRecord r in view.Requests)
        {
            Timeline t = view.Of(r.Sequence);
            if (t.Ends > 0 && t.LandResult < 0 && t.AckedOk)
            {
                found.Add(new Violation(Invariant.C5,
                    $"{view.Describe(r.Sequence)}: the backend failed it with {ErrnoExtensions.DescribeResult(t.LandResult)} at e{t.LandEnd}, yet it was acknowledged success"));
            }
        }

        long failureSeq = view.FirstFailure == TraceView.Never ? 0 : view.Events[view.FirstFailure - 1].Sequence;
        foreach (RequestRecord f in view.Requests)
        {
            Timeline ft = view.Of(f.Sequence);
            if (f.Op != BlockOp.Flush || !ft.AckedOk)
            {
                continue;
            }

            bool answered = false, afterFailure = false;
            foreach (SyncSpan s in view.Syncs)
            {
                if (s.Ok && s.Start > ft.Receive && s.End < ft.Ack)
                {
                    answered |= s.Start < view.FirstFailure;
                    afterFailure |= s.Start > view.FirstFailure;
                }
            }

            if (!answered)
            {
                found.Add(new Violation(Invariant.C5, afterFailure
                    ? $"flush {view.Describe(f.Sequence)} succeeded on a sync that started after the failure of " +
                      $"{view.Describe(failureSeq)} at e{view.FirstFailure}: a latched error must fail every later flush"
                    : $"flush {view.Describe(f.Sequence)} succeeded, but no successful sync ran between its receipt and its ack"));
            }
        }
    }

    /// <summary>D1: a successful flush's sync starts after every write received before the flush landed.</summary>
    private static void CheckD1(TraceView view, List<Violation> found)
    {
        foreach (RequestRecord f in view.Requests)
        {
            Timeline ft = view.Of(f.Sequence);
            if (f.Op != BlockOp.Flush || !ft.AckedOk)
            {
                continue;
            }

            long syncStart = SyncOf(view, f.Sequence, ft);
            if (syncStart == TraceView.Never)
            {
                continue; // No sync answered it: C5 reports that.
            }

            long first = 0;
            int count = 0;
            for (long seq = 1; seq < f.Sequence; seq++)
            {
                RequestRecord w = view.Request(seq);
                Timeline wt = view.Of(seq);
                if (w.IsWriteClass && !wt.Rejected && !(wt.Ends > 0 && wt.LandEnd < syncStart))
                {
                    first = first == 0 ? seq : first;
                    count++;
                }
            }

            if (count > 0)
            {
                found.Add(new Violation(Invariant.D1,
                    $"the sync of flush {view.Describe(f.Sequence)} started at e{syncStart}, before {view.Describe(first)}, " +
                    $"received before the flush, had landed{More(count)}"));
            }
        }
    }

    /// <summary>The start of the sync that answered flush <paramref name="seq"/>: its own, or the successful one that started last after its receipt and ended before its ack.</summary>
    private static long SyncOf(TraceView view, long seq, in Timeline ft)
    {
        if (ft.Starts > 0)
        {
            return ft.LandStart;
        }

        // Syncs may overlap (a flush group's sync starts while an earlier one runs), so the one that
        // ended last need not be the one that covers most: a flush is answered if any successful
        // sync between its receipt and its ack started late enough, and the latest start is the
        // one to check.
        long start = TraceView.Never;
        foreach (SyncSpan s in view.Syncs)
        {
            if (s.Ok && s.End < ft.Ack && s.Start > ft.Receive && (start == TraceView.Never || s.Start > start))
            {
                start = s.Start;
            }
        }

        return start;
    }

    /// <summary>D2 (strict): a write received after a flush starts only once that flush is acknowledged.</summary>
    private static void CheckD2(TraceView view, List<Violation> found)
    {
        long barrier = 0, barrierFlush = 0;
        foreach (RequestRecord r in view.Requests)
        {
            Timeline t = view.Of(r.Sequence);
            if (r.Op == BlockOp.Flush)
            {
                if (t.Ack > barrier)
                {
                    (barrier, barrierFlush) = (t.Ack, r.Sequence);
                }

                continue;
            }

            if (r.IsWriteClass && t.Starts > 0 && t.LandStart < barrier)
            {
                found.Add(new Violation(Invariant.D2,
                    $"{view.Describe(r.Sequence)} started landing at e{t.LandStart}, before flush {view.Describe(barrierFlush)}, " +
                    "received before it, was acknowledged"));
            }
        }
    }

    /// <summary>
    /// D3: of two overlapping writes, the later-received one starts landing after the earlier one
    /// finished; and, as DESIGN.md promises in every mode, a read that overlaps an earlier write
    /// waits for it (a value check alone cannot see this: the older data is a legal answer).
    /// </summary>
    private static void CheckD3(TraceView view, List<Violation> found)
    {
        RequestRecord[] requests = view.Requests;
        for (int i = 0; i < requests.Length; i++)
        {
            Timeline a = view.Timelines[i];
            if (!requests[i].IsWriteClass || a.Starts == 0)
            {
                continue;
            }

            for (int j = i + 1; j < requests.Length; j++)
            {
                Timeline b = view.Timelines[j];
                bool later = requests[j].IsWriteClass || requests[j].Op == BlockOp.Read;
                if (later && b.Starts > 0 && requests[i].Overlaps(requests[j]) && !(a.LandEnd < b.LandStart))
                {
                    string what = requests[j].IsWriteClass ? "started landing" : "started reading";
                    found.Add(new Violation(Invariant.D3,
                        $"{view.Describe(requests[j].Sequence)} {what} at e{b.LandStart} before the earlier overlapping " +
                        $"{view.Describe(requests[i].Sequence)} had landed"));
                }
            }
        }
    }

    /// <summary>A FUA write that the backend made durable itself, before <paramref name="by"/>.</summary>
    private static bool IsFuaDurable(in RequestRecord w, in Timeline t, long by) =>
        w.Op == BlockOp.Write && t.LandFlags.HasFlag(RequestFlags.Fua) && t.LandedOk && t.LandEnd < by;

    /// <summary>The value a write-class request leaves in its sectors: its write id; for discard and write-zeroes 0 (zeros) in a
    /// synthetic run, their sequence number in a recorded real one (where zeros differ from the initial contents).</summary>
    internal static ulong ValueOf(in RequestRecord r) => r.IsWriteClass ? r.WriteId : 0;

    private static string More(int count) => count > 1 ? $" (and {count - 1} more)" : "";
}
