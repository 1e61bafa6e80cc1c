using System.Runtime.InteropServices;
using LoopOrder.Queues.Dispatch;
using LoopOrder.Queues.Ordering;
using LoopOrder.Queues.Requests;
using LoopOrder.Queues.Tracking;
using LoopOrder.Verification.Backends;
using LoopOrder.Verification.Mutants;

namespace LoopOrder.Verification.Tracking;

/// <summary>What one tracked run found.</summary>
/// <param name="Recorder">The trace.</param>
/// <param name="Marks">When each region was marked.</param>
/// <param name="Violations">The CBT rule's violations, then the ordering checker's.</param>
/// <param name="Commits">Metadata commits the tracker made.</param>
/// <param name="HeldWrites">Writes held for a commit.</param>
/// <param name="Barriers">The sequence numbers of the snapshot barriers that closed a generation, in order.</param>
public sealed record TrackingRunResult(TraceRecorder Recorder, IReadOnlyList<RegionMark> Marks, IReadOnlyList<Violation> Violations, long Commits, long HeldWrites, IReadOnlyList<long> Barriers);

/// <summary>
/// Runs a seeded random workload of writes, discards, write-zeroes and flushes through a real
/// Sequencer with changed-block tracking (manual commits, memory metadata) over a recorded
/// controlled backend, on one thread: at each step it submits the next request, completes a
/// pending backend operation, or runs the due metadata commit, as the seed decides; with
/// snapshots, it also places snapshot barriers at seeded instants and, once one is acknowledged,
/// closes the tracker's generation and releases the barrier, as <c>BlockEngine.Snapshot</c> does.
/// Then checks the CBT rule per generation (<see cref="TrackingChecker"/>), the ordering
/// invariants, and that each generation's recorded set, read back and read from a torn crash
/// image of the metadata, holds every region its writes changed.
/// </summary>
public static unsafe class TrackingRun
{
    /// <summary>Device size: 256 KiB, 64 regions of 4 KiB, so first touches are frequent.</summary>
    public const long DeviceBytes = 256 * 1024;

    /// <summary>Region size used.</summary>
    public const int RegionSize = 4096;

    /// <summary>Runs workload <paramref name="seed"/> of <paramref name="requests"/> requests with <paramref name="mutant"/>.</summary>
    /// <param name="seed">The workload.</param>
    /// <param name="mutant">The breakage, or none.</param>
    /// <param name="requests">Requests to submit.</param>
    /// <param name="mode">The ordering mode.</param>
    /// <param name="snapshots">Snapshot barriers to place (each closes a generation); 0 for one generation.</param>
    public static TrackingRunResult Run(ulong seed, EngineMutant mutant = EngineMutant.None, int requests = 40, OrderingMode mode = OrderingMode.Drain, int snapshots = 0)
    {
        var random = new Random(unchecked((int)SectorHeader.Mix(seed)));
        var recorder = new TraceRecorder(seed);
        var marks = new RegionMarkRecorder(recorder);
        var controlled = new ControlledBackend(DeviceBytes);
        var recording = new RecordingBackend(controlled, recorder);
        var store = new MemoryTrackerStore();
        var tracker = new ChangeTracker(store, DeviceBytes, BlockRequest.SectorSize,
            new TrackerOptions { MetadataPath = "", RegionSize = RegionSize, ManualCommits = true }, mutant.Policy(), marks);
        var sequencer = new Sequencer(mode, DeviceBytes,
            c => new GatedDispatcher(tracker, new InlineDispatcher(recording, c), c), observer: recorder, mutant: mutant.Policy());
        var buffers = new List<nint>();
        var done = new Acks();
        var barriers = new List<long>();
        var barrierAck = new BarrierAck();
        BlockRequest? barrier = null;
        bool closeLate = false;
        try
        {
            ulong sectors = (ulong)(DeviceBytes / BlockRequest.SectorSize);
            int submitted = 0;
            while (submitted < requests || sequencer.Outstanding > 0 || barrier is not null || closeLate)
            {
                if (barrier is null && !closeLate && barriers.Count < snapshots && submitted < requests && random.Next(8) == 0)
                {
                    barrier = new BlockRequest(-1, 0, barrierAck);
                    barrier.Prepare(BlockOp.Flush, RequestFlags.None, 0, 0, RequestBuffer.None);
                    barrierAck.Acknowledged = false;
                    sequencer.PlaceBarrier(barrier);
                }

                if (barrier is not null && barrierAck.Acknowledged)
                {
                    barriers.Add(barrier.Seq);
                    barrier = null;
                    if (mutant == EngineMutant.LateGenerationClose)
                    {
                        // The breakage: the held writes go first, and the generation closes some steps later.
                        sequencer.ReleaseBarrier();
                        closeLate = true;
                    }
                    else
                    {
                        // dispatch-before-mark lets writes land with their commit still due; as designed, none is.
                        while (mutant != EngineMutant.None && tracker.CommitDue)
                        {
                            tracker.RunCommit();
                        }

                        tracker.CloseGeneration();
                        sequencer.ReleaseBarrier();
                    }

                    continue;
                }

                if (closeLate && !tracker.CommitDue && (random.Next(4) == 0 || (submitted >= requests && sequencer.Outstanding == 0)))
                {
                    tracker.CloseGeneration();
                    closeLate = false;
                    continue;
                }

                int choice = random.Next(3);
                if (choice == 0 && submitted < requests && sequencer.Outstanding < 8)
                {
                    BlockRequest r = Make(random, sectors, seed, submitted, buffers, done);
                    submitted++;
                    sequencer.Submit(r);
                }
                else if (choice == 1 && controlled.PendingCount > 0)
                {
                    controlled.Complete(controlled.Pending[random.Next(controlled.PendingCount)]);
                }
                else if (tracker.CommitDue)
                {
                    tracker.RunCommit();
                }
                else if (controlled.PendingCount > 0)
                {
                    controlled.CompleteOldest();
                }
                else if (submitted < requests)
                {
                    BlockRequest r = Make(random, sectors, seed, submitted, buffers, done);
                    submitted++;
                    sequencer.Submit(r);
                }
            }

            var violations = new List<Violation>(TrackingChecker.Check(recorder, marks.Marks, RegionSize, barriers));
            violations.AddRange(InvariantChecker.Check(recorder, mode, (ulong)(DeviceBytes / BlockRequest.SectorSize)));
            if (mutant == EngineMutant.None)
            {
                CheckRecordedSets(recorder, tracker, barriers, violations, "read back");
                using var reopened = new ChangeTracker(new MemoryTrackerStore(store.CrashImage(random)), DeviceBytes, BlockRequest.SectorSize,
                    new TrackerOptions { MetadataPath = "", RegionSize = RegionSize, ManualCommits = true });
                CheckRecordedSets(recorder, reopened, barriers, violations, "after a crash");
            }

            return new TrackingRunResult(recorder, marks.Marks.ToArray(), violations, tracker.Commits, tracker.HeldWrites, barriers);
        }
        finally
        {
            sequencer.Dispose();
            recording.Dispose();
            foreach (nint b in buffers)
            {
                NativeMemory.AlignedFree((void*)b);
            }
        }
    }

    /// <summary>Each generation's recorded set (closed ones from their slots, the current one from its bits) holds every region its landed writes touched.</summary>
    private static void CheckRecordedSets(TraceRecorder recorder, ChangeTracker tracker, List<long> barriers, List<Violation> violations, string how)
    {
        foreach (LandedWrite w in LandedWrite.Of(recorder, RegionSize, barriers))
        {
            RegionMap set = tracker.ChangedSince(w.Generation - 1, w.Generation);
            for (long region = w.FirstRegion; region <= w.LastRegion; region++)
            {
                if (!set.Test(region))
                {
                    violations.Add(new Violation(Invariant.Tracked, $"{w.Request} changed region {region} but generation {w.Generation}'s set {how} lacks it"));
                    break;
                }
            }
        }
    }

    private static BlockRequest Make(Random random, ulong sectors, ulong seed, int index, List<nint> buffers, Acks done)
    {
        int kind = random.Next(10);
        BlockOp op = kind < 6 ? BlockOp.Write : kind < 7 ? BlockOp.Discard : kind < 8 ? BlockOp.WriteZeroes : BlockOp.Flush;
        uint count = op == BlockOp.Flush ? 0 : (uint)random.Next(1, 24);
        ulong start = op == BlockOp.Flush ? 0 : (ulong)random.NextInt64(0, (long)(sectors - count));
        int bytes = (int)Math.Max(count, 1) * BlockRequest.SectorSize;
        nint buffer = (nint)NativeMemory.AlignedAlloc((nuint)bytes, 4096);
        buffers.Add(buffer);
        var r = new BlockRequest(0, index, done);
        if (op == BlockOp.Write)
        {
            SectorHeader.FillRange(new Span<byte>((void*)buffer, bytes), seed, (ulong)index + 1, start, (int)count);
        }

        r.Prepare(op, RequestFlags.None, start, count, op == BlockOp.Write ? RequestBuffer.Memory(buffer, bytes) : RequestBuffer.None);
        return r;
    }

    private sealed class BarrierAck : IRequestCompletion
    {
        public bool Acknowledged { get; set; }

        public void Complete(BlockRequest request, int result) => Acknowledged = true;
    }

    private sealed class Acks : IRequestCompletion
    {
        public void Complete(BlockRequest request, int result)
        {
        }
    }
}
