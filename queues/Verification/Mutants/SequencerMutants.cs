using LoopOrder.Queues.Ordering;
using LoopOrder.Queues.Requests;

namespace LoopOrder.Verification.Mutants;

/// <summary>The <see cref="ISequencerMutant"/> of each <see cref="EngineMutant"/>: each breaks one rule at one decision point.</summary>
public static class SequencerMutants
{
    /// <summary>What the Sequencer consults for <paramref name="mutant"/>: null (the engine as designed) for <see cref="EngineMutant.None"/>.</summary>
    /// <param name="mutant">The breakage.</param>
    public static ISequencerMutant? Policy(this EngineMutant mutant) => mutant switch
    {
        EngineMutant.None => null,
        EngineMutant.AckBeforeLand => AckBeforeLand.Instance,
        EngineMutant.FlushWithoutWait => FlushWithoutWait.Instance,
        EngineMutant.IgnoreSyncError => IgnoreSyncError.Instance,
        EngineMutant.StrictNoHold => StrictNoHold.Instance,
        EngineMutant.ReorderOverlap => ReorderOverlap.Instance,
        EngineMutant.DispatchBeforeMark => DispatchBeforeMark.Instance,
        EngineMutant.SnapshotNoHold => SnapshotNoHold.Instance,

        // Not a Sequencer breakage: TrackingRun's snapshot steps apply it.
        EngineMutant.LateGenerationClose => null,
        _ => throw new ArgumentOutOfRangeException(nameof(mutant), mutant, "unknown mutant"),
    };

    /// <summary>Breaks nothing; each mutant overrides the one point it breaks.</summary>
    private abstract class Keeper : ISequencerMutant
    {
        public virtual bool ShouldSkipOverlapWait(BlockRequest request) => false;

        public virtual bool ShouldSkipStrictHold(BlockRequest write) => false;

        public virtual bool ShouldSkipSnapshotHold(BlockRequest write) => false;

        public virtual bool ShouldSkipFlushWait(BlockRequest flush) => false;

        public virtual bool ShouldIgnoreSyncError(BlockRequest flush, int result) => false;

        public virtual bool ShouldAcknowledgeBeforeLanding(BlockRequest request) => false;

        public virtual bool ShouldSkipMarkWait(BlockRequest write) => false;
    }

    /// <summary>A write is acknowledged when it is dispatched, before its bytes land (C3).</summary>
    private sealed class AckBeforeLand : Keeper
    {
        public static readonly AckBeforeLand Instance = new();

        public override bool ShouldAcknowledgeBeforeLanding(BlockRequest request) => request.IsWriteClass;
    }

    /// <summary>A flush's sync starts at once, without waiting for earlier writes (D1, then C1).</summary>
    private sealed class FlushWithoutWait : Keeper
    {
        public static readonly FlushWithoutWait Instance = new();

        public override bool ShouldSkipFlushWait(BlockRequest flush) => true;
    }

    /// <summary>A failed sync is reported as success and not latched (C5).</summary>
    private sealed class IgnoreSyncError : Keeper
    {
        public static readonly IgnoreSyncError Instance = new();

        public override bool ShouldIgnoreSyncError(BlockRequest flush, int result) => true;
    }

    /// <summary>Strict mode lets writes after a flush start before it is acknowledged (D2).</summary>
    private sealed class StrictNoHold : Keeper
    {
        public static readonly StrictNoHold Instance = new();

        public override bool ShouldSkipStrictHold(BlockRequest write) => true;
    }

    /// <summary>Overlapping writes start without waiting for earlier ones (D3); reads still wait.</summary>
    private sealed class ReorderOverlap : Keeper
    {
        public static readonly ReorderOverlap Instance = new();

        public override bool ShouldSkipOverlapWait(BlockRequest request) => request.IsWriteClass;
    }

    /// <summary>Changed-block tracking lets a write reach the backend before its region's bit is durable (the CBT rule).</summary>
    private sealed class DispatchBeforeMark : Keeper
    {
        public static readonly DispatchBeforeMark Instance = new();

        public override bool ShouldSkipMarkWait(BlockRequest write) => true;
    }

    /// <summary>A snapshot barrier does not hold the writes received after it: they may land before the cut (the snapshot rule).</summary>
    private sealed class SnapshotNoHold : Keeper
    {
        public static readonly SnapshotNoHold Instance = new();

        public override bool ShouldSkipSnapshotHold(BlockRequest write) => true;
    }
}
