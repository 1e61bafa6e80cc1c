using LoopOrder.Queues.Requests;

namespace LoopOrder.Verification;

/// <summary>What happened to a request at one tick of the logical clock.</summary>
public enum TraceEventKind : byte
{
    /// <summary>The Sequencer received the request and gave it its sequence number.</summary>
    Receive,

    /// <summary>The backend began a read, write, discard or write-zeroes.</summary>
    LandStart,

    /// <summary>The backend finished it (bytes landed in the file, or it failed); carries the result.</summary>
    LandEnd,

    /// <summary>The backend began a flush's sync (fdatasync).</summary>
    SyncStart,

    /// <summary>The sync ended; carries the result.</summary>
    SyncEnd,

    /// <summary>The Sequencer acknowledged the request; carries the result.</summary>
    Acknowledge,

    /// <summary>
    /// A snapshot was cut at a barrier (issue 15): the sequence is the barrier flush's. Recorded by
    /// whoever cuts, after the barrier flush's acknowledgement and before the held writes are released.
    /// </summary>
    Cut,
}

/// <summary>One recorded event. Clocks are unique and increase in the order the events happened.</summary>
/// <param name="Clock">The logical clock (1, 2, ...).</param>
/// <param name="Kind">What happened.</param>
/// <param name="Sequence">The request's sequence number.</param>
/// <param name="Result">Bytes, 0 or a negative errno for ends and acknowledgements; 0 otherwise.</param>
/// <param name="Flags">The request's flags as the backend saw them (for starts), or as received.</param>
public readonly record struct TraceEvent(long Clock, TraceEventKind Kind, long Sequence, int Result, RequestFlags Flags)
{
    /// <inheritdoc />
    public override string ToString() => Kind switch
    {
        TraceEventKind.LandEnd or TraceEventKind.SyncEnd or TraceEventKind.Acknowledge => $"e{Clock} {Name(Kind)} #{Sequence} -> {Result}",
        _ => $"e{Clock} {Name(Kind)} #{Sequence}",
    };

    /// <summary>A short name for the kind, for traces.</summary>
    public static string Name(TraceEventKind kind) => kind switch
    {
        TraceEventKind.Receive => "recv",
        TraceEventKind.LandStart => "land-start",
        TraceEventKind.LandEnd => "land-end",
        TraceEventKind.SyncStart => "sync-start",
        TraceEventKind.SyncEnd => "sync-end",
        TraceEventKind.Cut => "cut",
        _ => "ack",
    };
}

/// <summary>What a request asked for, as the Sequencer received it.</summary>
/// <param name="Sequence">Its sequence number (receive order, 1, 2, ...).</param>
/// <param name="Op">The operation.</param>
/// <param name="Flags">FUA / NOUNMAP.</param>
/// <param name="StartSector">First sector.</param>
/// <param name="SectorCount">Sectors.</param>
/// <param name="QueueId">The queue that received it.</param>
/// <param name="Tag">Its tag in that queue.</param>
/// <param name="WriteId">For a write whose first sector carries a <see cref="SectorHeader"/>, the write id in it; else 0.</param>
/// <param name="ReceiveClock">The clock of its receive event.</param>
public readonly record struct RequestRecord(
    long Sequence,
    BlockOp Op,
    RequestFlags Flags,
    ulong StartSector,
    uint SectorCount,
    int QueueId,
    int Tag,
    ulong WriteId,
    long ReceiveClock)
{
    /// <summary>True for the ops that change sectors.</summary>
    public bool IsWriteClass => Op is BlockOp.Write or BlockOp.Discard or BlockOp.WriteZeroes;

    /// <summary>True when the request covers <paramref name="sector"/>.</summary>
    public bool Covers(ulong sector) => sector >= StartSector && sector - StartSector < SectorCount;

    /// <summary>True when the two requests share a sector.</summary>
    public bool Overlaps(in RequestRecord other) =>
        StartSector < other.StartSector + other.SectorCount && other.StartSector < StartSector + SectorCount;

    /// <inheritdoc />
    public override string ToString()
    {
        string fua = Flags.HasFlag(RequestFlags.Fua) ? "+FUA" : "";
        string id = Op == BlockOp.Write ? $" w{WriteId}" : "";
        return Op == BlockOp.Flush
            ? $"#{Sequence} q{QueueId} Flush"
            : $"#{Sequence} q{QueueId} {Op}{fua} [{StartSector}+{SectorCount}]{id}";
    }
}
