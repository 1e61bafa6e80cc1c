namespace LoopOrder.Verification;

/// <summary>The promises the checker holds a trace to (DESIGN.md, "Invariants the tests check").</summary>
public enum Invariant
{
    /// <summary>Every write acknowledged before a flush was received landed before a sync that ended before the flush's acknowledgement.</summary>
    C1,

    /// <summary>A FUA write is acknowledged only once durable.</summary>
    C2,

    /// <summary>No write is acknowledged before its bytes landed.</summary>
    C3,

    /// <summary>A read returns, per sector, a write received before its acknowledgement and not superseded by one acknowledged before it was received.</summary>
    C4,

    /// <summary>A failed land or sync fails its request, and every later flush fails.</summary>
    C5,

    /// <summary>(drain, strict; checked in every mode to show what none lacks) a write received before a flush landed before that flush's sync started.</summary>
    D1,

    /// <summary>(strict) a write received after a flush starts landing only after that flush was acknowledged.</summary>
    D2,

    /// <summary>Overlapping writes land in receive order (and a read overlapping an earlier write waits for it).</summary>
    D3,

    /// <summary>Every value the implementation could leave in a sector after a crash is one the contract allows.</summary>
    PowerCut,

    /// <summary>Requests outside the device, of zero length or with an unknown op fail and never reach the backend.</summary>
    Invalid,

    /// <summary>Every request is acknowledged exactly once, and started and ended at most once.</summary>
    Liveness,

    /// <summary>A journaling filesystem recovers every crash image to a transaction at least as new as the last commit acknowledged.</summary>
    Recovery,

    /// <summary>Changed-block tracking: no write-class request starts landing before every region it touches is marked durable.</summary>
    Tracked,

    /// <summary>A snapshot holds every write received before its barrier (so every one acknowledged before the command started) and none received after it.</summary>
    Snapshot,
}

/// <summary>A broken promise, with a message naming the events involved.</summary>
/// <param name="Invariant">Which promise.</param>
/// <param name="Message">What happened, naming requests (#sequence) and events (e clock).</param>
public sealed record Violation(Invariant Invariant, string Message)
{
    /// <inheritdoc />
    public override string ToString() => $"{Invariant}: {Message}";
}
