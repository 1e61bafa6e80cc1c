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
public sealed record TrackingRunResult(TraceRecorder Recorder, IReadOnlyList<RegionMark> Marks, IReadOnlyList<Violation> Violations, long Commits, long HeldWrites);

/// <summary>
/// Runs a seeded random workload of writes, discards, write-zeroes and flushes through a real
/// Sequencer with changed-block tracking (manual commits, memory metadata) over a recorded
/// controlled backend, on one thread: at each step it submits the next request, completes a
/// pending backend operation, or runs the due metadata commit, as the seed decides. Then checks
/// the CBT rule (<see cref="TrackingChecker"/>) and the ordering invariants on the trace.
/// </summary>
public static unsafe class TrackingRun
{
    /// <summary>Device size: 256 KiB, 64 regions of 4 KiB, so first touches are frequent.</summary>
    public const long DeviceBytes = 256 * 1024;

    /// <summary>Region size used.</summary>
    public const int RegionSize = 4096;

    /// <summary>Runs workload <paramref name="seed"/> of <paramref name="requests"/> requests with <paramref name="mutant"/>.</summary>
    public static TrackingRunResult Run(ulong seed, EngineMutant mutant = EngineMutant.None, int requests = 40, OrderingMode mode = OrderingMode.Drain)
    {
        var random = new Random(unchecked((int)SectorHeader.Mix(seed)));
        var recorder = new TraceRecorder(seed);
        var marks = new RegionMarkRecorder(recorder);
        var controlled = new ControlledBackend(DeviceBytes);
        var recording = new RecordingBackend(controlled, recorder);
        var tracker = new ChangeTracker(new MemoryTrackerStore(), DeviceBytes, BlockRequest.SectorSize,
            new TrackerOptions { MetadataPath = "", RegionSize = RegionSize, ManualCommits = true }, mutant.Policy(), marks);
        var sequencer = new Sequencer(mode, DeviceBytes,
            c => new TrackingDispatcher(tracker, new InlineDispatcher(recording, c), c), observer: recorder, mutant: mutant.Policy());
        var buffers = new List<nint>();
        var done = new Acks();
        try
        {
            ulong sectors = (ulong)(DeviceBytes / BlockRequest.SectorSize);
            int submitted = 0;
            while (submitted < requests || sequencer.Outstanding > 0)
            {
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

            var violations = new List<Violation>(TrackingChecker.Check(recorder, marks.Marks, RegionSize));
            violations.AddRange(InvariantChecker.Check(recorder, mode, (ulong)(DeviceBytes / BlockRequest.SectorSize)));
            return new TrackingRunResult(recorder, marks.Marks.ToArray(), violations, tracker.Commits, tracker.HeldWrites);
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

        r.Prepare(op, RequestFlags.None, start, count, op == BlockOp.Write ? buffer : 0, bytes);
        return r;
    }

    private sealed class Acks : IRequestCompletion
    {
        public void Complete(BlockRequest request, int result)
        {
        }
    }
}
