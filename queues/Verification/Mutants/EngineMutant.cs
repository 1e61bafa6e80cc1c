namespace LoopOrder.Verification.Mutants;

/// <summary>
/// Deliberate breakages, for proving that the trace checker can fail: each one violates one
/// invariant of DESIGN.md, and the checker must catch every one; <see cref="SequencerMutants.Policy"/>
/// is what the Sequencer consults for each. Never set outside tests and
/// the <c>verify --mutant</c> command.
/// </summary>
public enum EngineMutant
{
    /// <summary>The engine as designed.</summary>
    None = 0,

    /// <summary>Acknowledge a write when it is dispatched, before its bytes land (breaks C3).</summary>
    AckBeforeLand,

    /// <summary>Start a flush's sync at once, without waiting for earlier writes (breaks D1, then C1).</summary>
    FlushWithoutWait,

    /// <summary>Report a failed sync as success and do not latch it (breaks C5).</summary>
    IgnoreSyncError,

    /// <summary>Strict mode lets writes after a flush start before it is acknowledged (breaks D2).</summary>
    StrictNoHold,

    /// <summary>Overlapping writes start without waiting for earlier ones (breaks D3).</summary>
    ReorderOverlap,

    /// <summary>Changed-block tracking dispatches a write before its region's bit is durable (breaks the CBT rule).</summary>
    DispatchBeforeMark,

    /// <summary>A snapshot barrier lets writes received after it land before the snapshot is cut (breaks the snapshot rule).</summary>
    SnapshotNoHold,

    /// <summary>A snapshot releases the writes held behind its barrier before closing the tracking generation, so some are marked in the closed one (breaks the CBT rule per generation).</summary>
    LateGenerationClose,
}
