using System.Runtime.InteropServices;
using LoopOrder.Interop;
using LoopOrder.Queues.Dispatch;
using LoopOrder.Queues.Ordering;
using LoopOrder.Queues.Requests;
using LoopOrder.Verification.Backends;
using LoopOrder.Verification.Faults;
using LoopOrder.Verification.Mutants;

namespace LoopOrder.Verification.Tests;

/// <summary>
/// The one fault model and the mutant policies: the plan's words, the fault-injecting backend and
/// the recorder agree on what a fault did, and each mutant breaks the one rule it names.
/// </summary>
public sealed unsafe class FaultModelTests
{
    private const int EIO = (int)Errno.EIO;
    private const int ENOSPC = (int)Errno.ENOSPC;

    [Theory]
    [InlineData(FaultEffect.Eio, 16u, Errno.EIO, 0u)]
    [InlineData(FaultEffect.Enospc, 16u, Errno.ENOSPC, 0u)]
    [InlineData(FaultEffect.Short, 16u, Errno.EIO, 8u)]
    [InlineData(FaultEffect.Short, 1u, Errno.EIO, 0u)]
    public void Each_plan_word_is_an_errno_and_the_sectors_that_land_first(FaultEffect effect, uint sectors, Errno errno, uint landed) =>
        Assert.Equal(new Fault(errno, landed), Fault.Of(effect, sectors));

    [Fact]
    public void A_short_write_the_plan_injects_is_a_failure_in_the_trace_as_at_the_device()
    {
        const uint Sectors = 16;
        var recorder = new TraceRecorder(seed: 1);
        using var store = new ControlledBackend(1 << 20);
        var faults = new FaultInjectingBackend(store, FaultPlan.Parse("write:short@1"));
        var acks = new Acks();
        using var sequencer = new Sequencer(OrderingMode.Drain, store.Length, c => new InlineDispatcher(new RecordingBackend(faults, recorder), c), observer: recorder);
        nint buffer = (nint)NativeMemory.Alloc(Sectors * BlockRequest.SectorSize);
        try
        {
            new Span<byte>((void*)buffer, (int)Sectors * BlockRequest.SectorSize).Fill(0x5A);
            var w = new BlockRequest(0, 0, acks);
            w.Prepare(BlockOp.Write, RequestFlags.None, 0, Sectors, RequestBuffer.Memory(buffer, (int)Sectors * BlockRequest.SectorSize));
            sequencer.Submit(w);
            Assert.True(store.CompleteOldest());

            Assert.Equal(-EIO, acks.Result);
            TraceEvent landEnd = Assert.Single(recorder.Events, e => e.Kind == TraceEventKind.LandEnd);
            Assert.Equal(-EIO, landEnd.Result); // not the prefix's byte count: the checker must not see a landed write
            Assert.True(store.Store.Bytes(0, 8 * BlockRequest.SectorSize).IndexOfAnyExcept((byte)0x5A) < 0, "the prefix did not land");
            Assert.True(store.Store.Bytes(8 * BlockRequest.SectorSize, 8 * BlockRequest.SectorSize).IndexOfAnyExcept((byte)0) < 0, "more than the prefix landed");
            Assert.Empty(InvariantChecker.Check(recorder, OrderingMode.Drain, (ulong)store.Length / BlockRequest.SectorSize));
        }
        finally
        {
            NativeMemory.Free((void*)buffer);
        }
    }

    [Fact]
    public void The_engine_as_designed_consults_no_policy() => Assert.Null(EngineMutant.None.Policy());

    [Theory]
    [InlineData(EngineMutant.AckBeforeLand, "ack-before-landing")]
    [InlineData(EngineMutant.FlushWithoutWait, "skip-flush-wait")]
    [InlineData(EngineMutant.IgnoreSyncError, "ignore-sync-error")]
    [InlineData(EngineMutant.StrictNoHold, "skip-strict-hold")]
    [InlineData(EngineMutant.ReorderOverlap, "skip-overlap-wait")]
    [InlineData(EngineMutant.SnapshotNoHold, "skip-snapshot-hold")]
    public void Each_mutant_breaks_one_decision_point_for_writes(EngineMutant mutant, string point)
    {
        ISequencerMutant policy = mutant.Policy()!;
        var write = new BlockRequest(0, 0, new Acks());
        write.Prepare(BlockOp.Write, RequestFlags.None, 0, 1, RequestBuffer.None); // never dispatched: no buffer needed
        var flush = new BlockRequest(0, 1, new Acks());
        flush.Prepare(BlockOp.Flush, RequestFlags.None, 0, 0, RequestBuffer.None);
        var broken = new List<string>();
        if (policy.ShouldAcknowledgeBeforeLanding(write))
        {
            broken.Add("ack-before-landing");
        }

        if (policy.ShouldSkipFlushWait(flush))
        {
            broken.Add("skip-flush-wait");
        }

        if (policy.ShouldIgnoreSyncError(flush, -EIO))
        {
            broken.Add("ignore-sync-error");
        }

        if (policy.ShouldSkipStrictHold(write))
        {
            broken.Add("skip-strict-hold");
        }

        if (policy.ShouldSkipOverlapWait(write))
        {
            broken.Add("skip-overlap-wait");
        }

        if (policy.ShouldSkipSnapshotHold(write))
        {
            broken.Add("skip-snapshot-hold");
        }

        Assert.Equal([point], broken);
    }

    private sealed class Acks : IRequestCompletion
    {
        public int? Result { get; private set; }

        public void Complete(BlockRequest request, int result) => Result = result;
    }
}
