using System.Runtime.InteropServices;
using LoopOrder.Queues.Dispatch;
using LoopOrder.Queues.Ordering;
using LoopOrder.Queues.Requests;
using LoopOrder.Verification.Backends;
using LoopOrder.Verification.Mutants;

namespace LoopOrder.Verification.Snapshots;

/// <summary>What one snapshot run found.</summary>
/// <param name="Recorder">The trace.</param>
/// <param name="Snapshots">The snapshots cut: each barrier's sequence number and the image (a copy of the device at the cut).</param>
/// <param name="Violations">The snapshot rule's violations (trace, then images), then the ordering checker's.</param>
public sealed record SnapshotRunResult(TraceRecorder Recorder, IReadOnlyList<(long Barrier, byte[] Image)> Snapshots, IReadOnlyList<Violation> Violations);

/// <summary>
/// Runs a seeded random workload of reads, writes, discards, write-zeroes and flushes through a
/// real Sequencer over a recorded controlled backend, on one thread, and takes snapshots at
/// seeded instants the way <c>BlockEngine.Snapshot</c> does, step by step: place a barrier, let
/// the workload go on (the seed picks what to submit and which backend operation completes) until
/// the barrier flush is acknowledged, cut (a copy of the in-memory device), record the cut,
/// release. Then checks the snapshot rule on the trace and on each image
/// (<see cref="SnapshotChecker"/>), and the ordering invariants.
/// </summary>
public static unsafe class SnapshotRun
{
    /// <summary>Device size: 64 KiB, so writes before and after a barrier overlap often.</summary>
    public const long DeviceBytes = 64 * 1024;

    /// <summary>Runs workload <paramref name="seed"/> of <paramref name="requests"/> requests with <paramref name="mutant"/> in <paramref name="mode"/>.</summary>
    public static SnapshotRunResult Run(ulong seed, EngineMutant mutant = EngineMutant.None, int requests = 60, OrderingMode mode = OrderingMode.Drain)
    {
        var random = new Random(unchecked((int)SectorHeader.Mix(seed ^ 0x736E_6170UL)));
        var recorder = new TraceRecorder(seed);
        var controlled = new ControlledBackend(DeviceBytes);
        var recording = new RecordingBackend(controlled, recorder);
        var sequencer = new Sequencer(mode, DeviceBytes, c => new InlineDispatcher(recording, c), observer: recorder, mutant: mutant.Policy());
        var buffers = new List<nint>();
        var acks = new Acks();
        var snapshots = new List<(long, byte[])>();
        int wanted = 1 + random.Next(3);
        BlockRequest? barrier = null;
        try
        {
            ulong sectors = (ulong)(DeviceBytes / BlockRequest.SectorSize);
            int submitted = 0;
            while (submitted < requests || sequencer.Outstanding > 0 || barrier is not null)
            {
                int choice = random.Next(5);
                if (choice == 4 && barrier is null && snapshots.Count < wanted && submitted > 0)
                {
                    barrier = new BlockRequest(-1, snapshots.Count, acks);
                    barrier.Prepare(BlockOp.Flush, RequestFlags.None, 0, 0, RequestBuffer.None);
                    sequencer.PlaceBarrier(barrier);
                }
                else if (barrier is not null && acks.IsDone(barrier) && (choice == 4 || controlled.PendingCount == 0))
                {
                    // The cut: the device as the completed operations left it, then the event, then the release.
                    snapshots.Add((barrier.Seq, controlled.Store.Bytes(0, (int)DeviceBytes).ToArray()));
                    recorder.SnapshotCut(barrier.Seq);
                    sequencer.ReleaseBarrier();
                    barrier = null;
                }
                else if (choice <= 1 && submitted < requests && sequencer.Outstanding < 10)
                {
                    sequencer.Submit(Make(random, sectors, seed, submitted++, buffers, acks));
                }
                else if (choice == 2 && controlled.PendingCount > 0)
                {
                    controlled.Complete(controlled.Pending[random.Next(controlled.PendingCount)]);
                }
                else if (controlled.PendingCount > 0)
                {
                    controlled.CompleteOldest();
                }
                else if (submitted < requests)
                {
                    sequencer.Submit(Make(random, sectors, seed, submitted++, buffers, acks));
                }
            }

            var violations = new List<Violation>(SnapshotChecker.Check(recorder));
            foreach ((long at, byte[] image) in snapshots)
            {
                violations.AddRange(SnapshotChecker.CheckImage(recorder, at, image));
            }

            violations.AddRange(InvariantChecker.Check(recorder, mode, sectors));
            return new SnapshotRunResult(recorder, snapshots, violations);
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

    private static BlockRequest Make(Random random, ulong sectors, ulong seed, int index, List<nint> buffers, Acks acks)
    {
        int kind = random.Next(10);
        BlockOp op = kind < 5 ? BlockOp.Write : kind < 6 ? BlockOp.Discard : kind < 7 ? BlockOp.WriteZeroes : kind < 9 ? BlockOp.Read : BlockOp.Flush;
        uint count = op == BlockOp.Flush ? 0 : (uint)random.Next(1, 16);
        ulong start = op == BlockOp.Flush ? 0 : (ulong)random.NextInt64(0, (long)(sectors - count));
        int bytes = (int)Math.Max(count, 1) * BlockRequest.SectorSize;
        nint buffer = (nint)NativeMemory.AlignedAlloc((nuint)bytes, 4096);
        buffers.Add(buffer);
        var r = new BlockRequest(index % 3, index, acks);
        if (op == BlockOp.Write)
        {
            SectorHeader.FillRange(new Span<byte>((void*)buffer, bytes), seed, (ulong)index + 1, start, (int)count);
        }

        RequestFlags flags = op == BlockOp.Write && random.Next(8) == 0 ? RequestFlags.Fua : RequestFlags.None;
        r.Prepare(op, flags, start, count, op is BlockOp.Write or BlockOp.Read ? RequestBuffer.Memory(buffer, bytes) : RequestBuffer.None);
        return r;
    }

    /// <summary>Acknowledgements: only whether each request was answered matters here (the trace has the rest).</summary>
    private sealed class Acks : IRequestCompletion
    {
        private readonly HashSet<BlockRequest> _done = [];

        public void Complete(BlockRequest request, int result) => _done.Add(request);

        public bool IsDone(BlockRequest request) => _done.Contains(request);
    }
}
