using LoopOrder.Queues.Requests;

namespace LoopOrder.Verification.Snapshots;

/// <summary>
/// The snapshot rule (issue 15, item 4) on a recorded trace: a snapshot cut at a barrier holds
/// every write received before the barrier (so every write acknowledged before the snapshot
/// command started, since the barrier is received when the command starts) and none received
/// after it. On the trace: each <see cref="TraceEventKind.Cut"/> comes after the barrier flush was
/// acknowledged with success and after every earlier write-class request landed with success, and
/// before any later write-class request started landing. On an image: each sector holds what the
/// last write before the barrier left there.
/// </summary>
public static class SnapshotChecker
{
    /// <summary>Never: a clock later than any event.</summary>
    private const long Never = long.MaxValue;

    /// <summary>Checks every cut in <paramref name="recorder"/>'s trace.</summary>
    /// <param name="recorder">The trace.</param>
    public static IReadOnlyList<Violation> Check(TraceRecorder recorder)
    {
        ArgumentNullException.ThrowIfNull(recorder);
        TraceEvent[] events = recorder.Events;
        IReadOnlyList<RequestRecord> requests = recorder.Requests;
        var landStart = new long[requests.Count];
        var landEnd = new long[requests.Count];
        var landResult = new int[requests.Count];
        var ack = new long[requests.Count];
        var ackResult = new int[requests.Count];
        Array.Fill(landStart, Never);
        Array.Fill(landEnd, Never);
        Array.Fill(ack, Never);
        var cuts = new List<TraceEvent>();
        foreach (TraceEvent e in events)
        {
            if (e.Kind == TraceEventKind.Cut)
            {
                cuts.Add(e);
                continue;
            }

            if (e.Sequence < 1 || e.Sequence > requests.Count)
            {
                continue;
            }

            int i = (int)e.Sequence - 1;
            switch (e.Kind)
            {
                case TraceEventKind.LandStart:
                    landStart[i] = Math.Min(landStart[i], e.Clock);
                    break;
                case TraceEventKind.LandEnd when landEnd[i] == Never:
                    landEnd[i] = e.Clock;
                    landResult[i] = e.Result;
                    break;
                case TraceEventKind.Acknowledge when ack[i] == Never:
                    ack[i] = e.Clock;
                    ackResult[i] = e.Result;
                    break;
            }
        }

        var found = new List<Violation>();
        foreach (TraceEvent cut in cuts)
        {
            long barrier = cut.Sequence;
            if (barrier < 1 || barrier > requests.Count || requests[(int)barrier - 1].Op != BlockOp.Flush)
            {
                found.Add(new Violation(Invariant.Snapshot, $"{cut}: #{barrier} is not a flush, so not a barrier"));
                continue;
            }

            int b = (int)barrier - 1;
            if (ack[b] > cut.Clock || ackResult[b] < 0)
            {
                string why = ack[b] > cut.Clock ? "before its barrier flush was acknowledged" : $"after its barrier flush failed ({ackResult[b]})";
                found.Add(new Violation(Invariant.Snapshot, $"{cut}: the snapshot was cut {why}"));
            }

            for (int i = 0; i < requests.Count; i++)
            {
                RequestRecord r = requests[i];
                if (!r.IsWriteClass || r.SectorCount == 0)
                {
                    continue;
                }

                if (r.Sequence < barrier && (landEnd[i] > cut.Clock || landResult[i] < 0))
                {
                    string when = landEnd[i] == Never ? "never landed" : landEnd[i] > cut.Clock ? $"landed only at e{landEnd[i]}" : $"failed ({landResult[i]})";
                    found.Add(new Violation(Invariant.Snapshot, $"{r}, received before barrier #{barrier}, is not in the snapshot cut at e{cut.Clock}: it {when}"));
                }
                else if (r.Sequence > barrier && landStart[i] < cut.Clock)
                {
                    found.Add(new Violation(Invariant.Snapshot, $"{r}, received after barrier #{barrier}, started landing at e{landStart[i]}, before the snapshot was cut at e{cut.Clock}"));
                }
            }
        }

        return found;
    }

    /// <summary>
    /// Checks a snapshot image of a device whose writes carry <see cref="SectorHeader"/>s (the
    /// recorder's seed) and that started as zeros: every sector must hold what the last
    /// write-class request received before <paramref name="barrier"/> left there (zeros after a
    /// discard or write-zeroes, or when nothing before it wrote the sector).
    /// </summary>
    /// <param name="recorder">The trace.</param>
    /// <param name="barrier">The barrier flush's sequence number.</param>
    /// <param name="image">The snapshot's bytes, from sector 0.</param>
    public static IReadOnlyList<Violation> CheckImage(TraceRecorder recorder, long barrier, ReadOnlySpan<byte> image)
    {
        ArgumentNullException.ThrowIfNull(recorder);
        int sectors = image.Length / BlockRequest.SectorSize;
        var expected = new SectorValue[sectors];
        var writer = new long[sectors];
        foreach (RequestRecord r in recorder.Requests)
        {
            if (r.Sequence >= barrier)
            {
                break; // requests are in sequence order
            }

            if (!r.IsWriteClass)
            {
                continue;
            }

            for (ulong s = r.StartSector; s < r.StartSector + r.SectorCount && s < (ulong)sectors; s++)
            {
                expected[s] = r.Op == BlockOp.Write ? new SectorValue(r.WriteId, SectorStatus.Valid) : SectorValue.Zero;
                writer[s] = r.Sequence;
            }
        }

        var found = new List<Violation>();
        for (int s = 0; s < sectors; s++)
        {
            SectorValue want = writer[s] == 0 ? SectorValue.Zero : expected[s];
            SectorValue got = SectorHeader.Decode(image.Slice(s * BlockRequest.SectorSize, BlockRequest.SectorSize), recorder.Seed, (ulong)s);
            if (got != want)
            {
                string from = writer[s] == 0 ? "nothing before the barrier wrote it" : $"#{writer[s]} was the last write before it";
                found.Add(new Violation(Invariant.Snapshot, $"sector {s} of the snapshot at barrier #{barrier} holds {got}, not {want} ({from})"));
            }
        }

        return found;
    }
}
