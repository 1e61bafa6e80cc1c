using System.Runtime.InteropServices;
using LoopOrder.Queues.Dispatch;
using LoopOrder.Queues.Ordering;
using LoopOrder.Queues.Requests;
using LoopOrder.Verification.Backends;
using LoopOrder.Verification.Mutants;

namespace LoopOrder.Verification;

/// <summary>The outcome of one ext4/jbd2-shaped run and the recovery of its crash images.</summary>
/// <param name="Seed">The vector's seed.</param>
/// <param name="Transactions">Transactions the filesystem committed (or tried to).</param>
/// <param name="ImagesChecked">Crash images recovered and judged.</param>
/// <param name="Recorder">The trace.</param>
/// <param name="Violations">The checker's findings on the trace, and every recovery that went wrong.</param>
public sealed record Jbd2Result(ulong Seed, int Transactions, int ImagesChecked, TraceRecorder Recorder, IReadOnlyList<Violation> Violations);

/// <summary>
/// A test vector in the shape of an ext4/jbd2 transaction stream, with a small recovery oracle.
/// Each transaction: journal copies of a few metadata blocks, written from several queues; wait
/// for them (jbd2 waits for its journal buffers); a flush (the commit's REQ_PREFLUSH, which the
/// block layer issues first); the commit block with FUA; then the metadata written to its home
/// locations with no flush (checkpointing), while the next transaction begins. One block is one
/// sector here, so a block is never torn.
/// <para>
/// Recovery, as jbd2 with v3 checksums: replay transactions in order while each has its commit
/// block and every journal block it describes; the first incomplete one ends the replay. The
/// oracle: every crash image (sampled from the power-cut model at every event boundary, plus the
/// newest-everywhere and oldest-everywhere images) must recover to the state after some
/// transaction at least as new as the last commit acknowledged.
/// </para>
/// With <c>waitBeforeFlush</c> false the filesystem skips the wait and lets the flush order its
/// journal writes: correct under drain and strict, broken under none (the loop driver's weakness).
/// </summary>
public static class Jbd2Vector
{
    /// <summary>Journal area: sectors [0, 64).</summary>
    private const int JournalSectors = 64;

    /// <summary>Home (metadata) blocks, at sectors [64, 80).</summary>
    private const int HomeBlocks = 16;

    /// <summary>Device size: journal and home area, and spare room.</summary>
    private const ulong CapacitySectors = 128;

    /// <summary>Virtual queues the filesystem's writes come from.</summary>
    private const int Queues = 3;

    /// <summary>Random images per event boundary, besides the two extremes.</summary>
    private const int SamplesPerBoundary = 4;

    /// <summary>Runs the vector of <paramref name="seed"/> and recovers its crash images.</summary>
    public static Jbd2Result Run(ulong seed, OrderingMode mode, EngineMutant mutant = EngineMutant.None, bool waitBeforeFlush = true)
    {
        var random = new Random(unchecked((int)SectorHeader.Mix(seed ^ 0x6A62_6432UL))); // "jbd2": a stream apart from the random workloads'
        Plan plan = MakePlan(random);
        var recorder = new TraceRecorder(seed);
        using var fs = new FileSystem(plan, seed, mode, mutant, recorder, waitBeforeFlush);
        while (true)
        {
            fs.Advance();
            IReadOnlyList<BlockRequest> pending = fs.Backend.Pending;
            if (pending.Count == 0)
            {
                break; // Finished, aborted, or stuck (the checker reports unacknowledged requests).
            }

            fs.Backend.Complete(pending[random.Next(pending.Count)]);
        }

        var view = new TraceView(recorder);
        var found = new List<Violation>();
        InvariantChecker.Check(view, mode, CapacitySectors, found);
        var model = new PowerCutModel(view, mode, CapacitySectors);
        int images = CheckRecovery(plan, fs, model, random, found);
        return new Jbd2Result(seed, plan.Transactions.Length, images, recorder, found);
    }

    private static Plan MakePlan(Random random)
    {
        int count = random.Next(3, 6);
        var transactions = new Transaction[count];
        ulong nextId = 1;
        int journal = 0;
        for (int n = 0; n < count; n++)
        {
            int[] blocks = [.. Enumerable.Range(0, HomeBlocks).OrderBy(_ => random.Next()).Take(random.Next(2, 6))];
            var journalIds = new ulong[blocks.Length];
            var homeIds = new ulong[blocks.Length];
            for (int k = 0; k < blocks.Length; k++)
            {
                journalIds[k] = nextId++;
                homeIds[k] = nextId++;
            }

            transactions[n] = new Transaction(blocks, journal, journalIds, nextId++, homeIds);
            journal += blocks.Length + 1;
        }

        return journal <= JournalSectors ? new Plan(transactions) : throw new InvalidOperationException("journal overflow");
    }

    /// <summary>Recovers sampled crash images at every boundary; returns how many were judged.</summary>
    private static int CheckRecovery(Plan plan, FileSystem fs, PowerCutModel model, Random random, List<Violation> found)
    {
        int images = 0, failures = 0;
        string? first = null;
        long[] commitAcks = [.. Enumerable.Range(0, plan.Transactions.Length).Select(fs.CommitAck)];
        for (long clock = 0; clock <= model.LastClock; clock++)
        {
            int lastAcked = 0;
            for (int n = 0; n < plan.Transactions.Length; n++)
            {
                if (commitAcks[n] <= clock)
                {
                    lastAcked = n + 1;
                }
            }

            for (int sample = 0; sample < SamplesPerBoundary + 2; sample++)
            {
                ulong[] image = sample switch
                {
                    0 => model.ExtremeImage(clock, newest: true),
                    1 => model.ExtremeImage(clock, newest: false),
                    _ => model.SampleImage(clock, random),
                };
                images++;
                (int[] state, int replayed) = Recover(plan, image);
                bool ok = false;
                for (int k = lastAcked; k <= plan.Transactions.Length && !ok; k++)
                {
                    ok = state.AsSpan().SequenceEqual(Expected(plan, k));
                }

                if (!ok)
                {
                    failures++;
                    first ??= $"a crash right after e{clock} recovers (replaying T1..T{replayed}) to home blocks " +
                              $"[{string.Join(' ', state.Select(v => v < 0 ? "?" : $"T{v}"))}], not the state after any transaction " +
                              $"from T{lastAcked} (the last commit acknowledged) on; expected at least " +
                              $"[{string.Join(' ', Expected(plan, lastAcked).Select(v => $"T{v}"))}]";
                }
            }
        }

        if (first is not null)
        {
            found.Add(new Violation(Invariant.Recovery, failures > 1 ? $"{first} (and {failures - 1} more images)" : first));
        }

        return images;
    }

    /// <summary>jbd2 recovery: the home blocks' versions (transaction numbers, 0 initial, -1 unrecognised) and the transactions replayed.</summary>
    private static (int[] State, int Replayed) Recover(Plan plan, ulong[] image)
    {
        int replayed = 0;
        foreach (Transaction t in plan.Transactions)
        {
            bool complete = image[t.CommitSector] == t.CommitId;
            for (int k = 0; k < t.Blocks.Length && complete; k++)
            {
                complete = image[t.JournalStart + k] == t.JournalIds[k];
            }

            if (!complete)
            {
                break;
            }

            replayed++;
        }

        var state = new int[HomeBlocks];
        for (int h = 0; h < HomeBlocks; h++)
        {
            ulong value = image[JournalSectors + h];
            state[h] = value == 0 ? 0 : -1;
            for (int n = 0; n < plan.Transactions.Length; n++)
            {
                int k = Array.IndexOf(plan.Transactions[n].Blocks, h);
                if (k >= 0 && plan.Transactions[n].HomeIds[k] == value)
                {
                    state[h] = n + 1;
                }
            }
        }

        for (int n = 0; n < replayed; n++)
        {
            foreach (int h in plan.Transactions[n].Blocks)
            {
                state[h] = n + 1;
            }
        }

        return (state, replayed);
    }

    /// <summary>The home blocks' versions after transactions 1..<paramref name="k"/>.</summary>
    private static int[] Expected(Plan plan, int k)
    {
        var state = new int[HomeBlocks];
        for (int n = 0; n < k; n++)
        {
            foreach (int h in plan.Transactions[n].Blocks)
            {
                state[h] = n + 1;
            }
        }

        return state;
    }

    private sealed record Transaction(int[] Blocks, int JournalStart, ulong[] JournalIds, ulong CommitId, ulong[] HomeIds)
    {
        public int CommitSector => JournalStart + Blocks.Length;
    }

    private sealed record Plan(Transaction[] Transactions);

    /// <summary>The filesystem: submits each transaction's phases as the acknowledgements it waits for arrive.</summary>
    private sealed unsafe class FileSystem : IRequestCompletion, IDisposable
    {
        private readonly Plan _plan;
        private readonly ulong _seed;
        private readonly bool _wait;
        private readonly Sequencer _sequencer;
        private readonly List<BlockRequest> _requests = [];
        private readonly List<nint> _buffers = [];
        private readonly Dictionary<BlockRequest, int> _results = [];
        private readonly long[] _commitSeq;
        private readonly TraceRecorder _recorder;
        private int _tx;
        private Phase _phase;
        private List<BlockRequest> _waitingFor = [];
        private int _nextQueue;

        public FileSystem(Plan plan, ulong seed, OrderingMode mode, EngineMutant mutant, TraceRecorder recorder, bool wait)
        {
            _plan = plan;
            _seed = seed;
            _wait = wait;
            _recorder = recorder;
            _commitSeq = new long[plan.Transactions.Length];
            Backend = new ControlledBackend((long)CapacitySectors * BlockRequest.SectorSize);
            var recording = new RecordingBackend(Backend, recorder);
            _sequencer = new Sequencer(mode, Backend.Length, c => new InlineDispatcher(recording, c), false, recorder, mutant.Policy());
        }

        private enum Phase
        {
            Journal,
            Flush,
            Commit,
            Home,
            Done,
        }

        public ControlledBackend Backend { get; }

        /// <summary>The clock at which transaction <paramref name="n"/>'s commit was acknowledged with success; never if not.</summary>
        public long CommitAck(int n)
        {
            if (_commitSeq[n] == 0)
            {
                return TraceView.Never;
            }

            foreach (TraceEvent e in _recorder.Events)
            {
                if (e.Kind == TraceEventKind.Acknowledge && e.Sequence == _commitSeq[n])
                {
                    return e.Result >= 0 ? e.Clock : TraceView.Never;
                }
            }

            return TraceView.Never;
        }

        /// <summary>Submits everything the filesystem may submit now.</summary>
        public void Advance()
        {
            while (_phase != Phase.Done && _waitingFor.All(_results.ContainsKey))
            {
                if (_waitingFor.Any(r => _results[r] < 0))
                {
                    _phase = Phase.Done; // jbd2 aborts the journal on an I/O error: nothing more is committed.
                    return;
                }

                Transaction t = _plan.Transactions[_tx];
                switch (_phase)
                {
                    case Phase.Journal:
                        var journal = new List<BlockRequest>();
                        for (int k = 0; k < t.Blocks.Length; k++)
                        {
                            journal.Add(Write((ulong)(t.JournalStart + k), t.JournalIds[k], RequestFlags.None));
                        }

                        _waitingFor = _wait ? journal : [];
                        _phase = Phase.Flush;
                        break;
                    case Phase.Flush:
                        _waitingFor = [Submit(BlockOp.Flush, RequestFlags.None, 0, 0, buffer: 0)];
                        _phase = Phase.Commit;
                        break;
                    case Phase.Commit:
                        BlockRequest commit = Write((ulong)t.CommitSector, t.CommitId, RequestFlags.Fua);
                        _commitSeq[_tx] = commit.Seq;
                        _waitingFor = [commit];
                        _phase = Phase.Home;
                        break;
                    case Phase.Home:
                        for (int k = 0; k < t.Blocks.Length; k++)
                        {
                            Write((ulong)(JournalSectors + t.Blocks[k]), t.HomeIds[k], RequestFlags.None);
                        }

                        _waitingFor = [];
                        _phase = ++_tx < _plan.Transactions.Length ? Phase.Journal : Phase.Done;
                        break;
                }
            }
        }

        public void Complete(BlockRequest request, int result) => _results[request] = result;

        public void Dispose()
        {
            _sequencer.Dispose();
            Backend.Dispose();
            foreach (nint b in _buffers)
            {
                NativeMemory.Free((void*)b);
            }
        }

        private BlockRequest Write(ulong sector, ulong writeId, RequestFlags flags)
        {
            nint buffer = (nint)NativeMemory.Alloc(BlockRequest.SectorSize);
            _buffers.Add(buffer);
            SectorHeader.Fill(new Span<byte>((void*)buffer, BlockRequest.SectorSize), _seed, writeId, sector);
            return Submit(BlockOp.Write, flags, sector, 1, buffer);
        }

        private BlockRequest Submit(BlockOp op, RequestFlags flags, ulong sector, uint count, nint buffer)
        {
            var r = new BlockRequest(_nextQueue++ % Queues, _requests.Count, this);
            r.Prepare(op, flags, sector, count, RequestBuffer.Memory(buffer, (int)count * BlockRequest.SectorSize));
            _requests.Add(r);
            _sequencer.Submit(r);
            return r;
        }
    }
}
