using LoopOrder.Queues.Requests;

namespace LoopOrder.Verification;

/// <summary>One request's life in a trace, as clocks. <see cref="TraceView.Never"/> marks what did not happen.</summary>
internal struct Timeline
{
    public long Receive;
    public long LandStart;
    public long LandEnd;
    public int LandResult;
    public RequestFlags LandFlags;
    public long Ack;
    public int AckResult;
    public int Acks;
    public int Starts;
    public int Ends;

    /// <summary>The backend finished it without error.</summary>
    public readonly bool LandedOk => Ends > 0 && LandResult >= 0;

    /// <summary>Acknowledged without error.</summary>
    public readonly bool AckedOk => Acks > 0 && AckResult >= 0;

    /// <summary>Acknowledged with an error.</summary>
    public readonly bool AckedError => Acks > 0 && AckResult < 0;

    /// <summary>Turned away without reaching the backend (invalid, read-only): not part of the device's history.</summary>
    public readonly bool Rejected => Starts == 0 && AckedError;
}

/// <summary>A sync the backend ran, carried by one flush request.</summary>
internal readonly record struct SyncSpan(long Carrier, long Start, long End, int Result)
{
    public bool Ok => End != TraceView.Never && Result >= 0;
}

/// <summary>
/// A trace reduced to per-request timelines and the list of syncs, for the checks. Built once a
/// run is quiet.
/// </summary>
internal sealed class TraceView
{
    /// <summary>The clock of something that never happened: later than everything.</summary>
    public const long Never = long.MaxValue;

    public TraceView(TraceRecorder recorder)
    {
        Seed = recorder.Seed;
        Recorder = recorder;
        Requests = [.. recorder.Requests];
        Events = recorder.Events;
        Timelines = new Timeline[Requests.Length];
        for (int i = 0; i < Timelines.Length; i++)
        {
            Timelines[i] = new Timeline { Receive = Requests[i].ReceiveClock, LandStart = Never, LandEnd = Never, Ack = Never };
        }

        var syncStarts = new Dictionary<long, long>();
        var syncs = new List<SyncSpan>();
        long firstFailure = Never;
        foreach (TraceEvent e in Events)
        {
            if (e.Sequence < 1 || e.Sequence > Timelines.Length)
            {
                continue;
            }

            ref Timeline t = ref Timelines[e.Sequence - 1];
            switch (e.Kind)
            {
                case TraceEventKind.LandStart:
                    t.Starts++;
                    t.LandStart = Math.Min(t.LandStart, e.Clock);
                    t.LandFlags = e.Flags;
                    break;
                case TraceEventKind.SyncStart:
                    t.Starts++;
                    t.LandStart = Math.Min(t.LandStart, e.Clock);
                    syncStarts[e.Sequence] = e.Clock;
                    break;
                case TraceEventKind.LandEnd:
                case TraceEventKind.SyncEnd:
                    t.Ends++;
                    if (t.LandEnd == Never)
                    {
                        t.LandEnd = e.Clock;
                        t.LandResult = e.Result;
                    }

                    if (e.Kind == TraceEventKind.SyncEnd)
                    {
                        syncs.Add(new SyncSpan(e.Sequence, syncStarts.GetValueOrDefault(e.Sequence, e.Clock), e.Clock, e.Result));
                        syncStarts.Remove(e.Sequence);
                    }

                    // A failed write or sync latches (C5); a failed read does not.
                    if (e.Result < 0 && Requests[e.Sequence - 1].Op != BlockOp.Read)
                    {
                        firstFailure = Math.Min(firstFailure, e.Clock);
                    }

                    break;
                case TraceEventKind.Acknowledge:
                    t.Acks++;
                    if (t.Ack == Never)
                    {
                        t.Ack = e.Clock;
                        t.AckResult = e.Result;
                    }

                    break;
            }
        }

        // Syncs started and never ended stay open: they make nothing durable.
        foreach ((long carrier, long start) in syncStarts)
        {
            syncs.Add(new SyncSpan(carrier, start, Never, 0));
        }

        syncs.Sort((a, b) => a.End.CompareTo(b.End));
        Syncs = [.. syncs];
        FirstFailure = firstFailure;

        // Prefix maxima of successful sync starts, by end: answers "the latest start of a successful sync that ended before t".
        OkSyncEnds = [.. Syncs.Where(s => s.Ok).Select(s => s.End)];
        OkSyncMaxStart = new long[OkSyncEnds.Length];
        long max = 0;
        int k = 0;
        foreach (SyncSpan s in Syncs.Where(s => s.Ok))
        {
            max = Math.Max(max, s.Start);
            OkSyncMaxStart[k++] = max;
        }
    }

    public TraceRecorder Recorder { get; }

    public ulong Seed { get; }

    public RequestRecord[] Requests { get; }

    public TraceEvent[] Events { get; }

    public Timeline[] Timelines { get; }

    /// <summary>Every sync, in order of end (open ones last).</summary>
    public SyncSpan[] Syncs { get; }

    /// <summary>The clock of the first failed write-class land or sync, or <see cref="Never"/>.</summary>
    public long FirstFailure { get; }

    private long[] OkSyncEnds { get; }

    private long[] OkSyncMaxStart { get; }

    /// <summary>The latest start of a successful sync that ended at or before <paramref name="clock"/>; 0 if none.</summary>
    public long LatestDurablePoint(long clock)
    {
        int lo = 0, hi = OkSyncEnds.Length;
        while (lo < hi)
        {
            int mid = (lo + hi) >>> 1;
            if (OkSyncEnds[mid] <= clock)
            {
                lo = mid + 1;
            }
            else
            {
                hi = mid;
            }
        }

        return lo == 0 ? 0 : OkSyncMaxStart[lo - 1];
    }

    public ref Timeline Of(long sequence) => ref Timelines[sequence - 1];

    public RequestRecord Request(long sequence) => Requests[sequence - 1];

    /// <summary>A request with its timeline, for messages.</summary>
    public string Describe(long sequence)
    {
        if (sequence < 1 || sequence > Requests.Length)
        {
            return "initial contents";
        }

        RequestRecord r = Requests[sequence - 1];
        Timeline t = Timelines[sequence - 1];
        var text = new System.Text.StringBuilder(r.ToString());
        text.Append(" (recv e").Append(t.Receive);
        if (t.Starts > 0)
        {
            text.Append(r.Op == BlockOp.Flush ? ", sync e" : ", land e").Append(t.LandStart).Append("..")
                .Append(t.LandEnd == Never ? "?" : $"e{t.LandEnd}");
            if (t.Ends > 0 && t.LandResult < 0)
            {
                text.Append(" failed ").Append(t.LandResult);
            }
        }

        text.Append(t.Acks > 0 ? $", ack e{t.Ack} -> {t.AckResult})" : ", never acked)");
        return text.ToString();
    }

    public static string Clock(long clock) => clock == Never ? "never" : $"e{clock}";
}
