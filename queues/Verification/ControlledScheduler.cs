using System.Runtime.InteropServices;
using System.Text;
using LoopOrder.Queues.Dispatch;
using LoopOrder.Queues.Ordering;
using LoopOrder.Queues.Requests;
using LoopOrder.Verification.Backends;
using LoopOrder.Verification.Faults;
using LoopOrder.Verification.Mutants;

namespace LoopOrder.Verification;

/// <summary>What the scheduler did at one step.</summary>
public enum ScheduleActionKind : byte
{
    /// <summary>A queue submitted a request.</summary>
    Submit,

    /// <summary>A pending backend operation completed.</summary>
    Complete,
}

/// <summary>
/// One step of a schedule: submit op <paramref name="Op"/>, or complete its backend operation,
/// maybe with a fault. Faults are modelled at the backend boundary, where a file backend meets
/// them: EIO on any operation, ENOSPC on a write, discard or write-zeroes, and a short write (a
/// prefix lands, then ENOSPC: pwritev returned short and the retry found the disk full).
/// </summary>
/// <param name="Kind">Submit or complete.</param>
/// <param name="Op">Index of the op in the workload.</param>
/// <param name="Fault">For a completion, the fault injected (<see cref="Fault.None"/> for none).</param>
public readonly record struct ScheduleAction(ScheduleActionKind Kind, int Op, Fault Fault = default)
{
    /// <inheritdoc />
    public override string ToString() => Kind == ScheduleActionKind.Submit
        ? $"submit op{Op}"
        : Fault.IsNone ? $"complete op{Op}" : $"complete op{Op} {Fault}";
}

/// <summary>One run of a workload against the engine, with its trace and what the checker found.</summary>
/// <param name="Seed">The workload seed (also the seed in every sector header).</param>
/// <param name="Mode">The ordering mode.</param>
/// <param name="Mutant">The deliberate breakage, if any.</param>
/// <param name="CapacitySectors">Device size.</param>
/// <param name="Workload">The requests.</param>
/// <param name="Script">Every scheduling decision, in order: replaying it reproduces the run exactly.</param>
/// <param name="Recorder">The trace.</param>
/// <param name="Violations">What the checker found.</param>
public sealed record WorkloadRun(
    ulong Seed,
    OrderingMode Mode,
    EngineMutant Mutant,
    ulong CapacitySectors,
    Workload Workload,
    IReadOnlyList<ScheduleAction> Script,
    TraceRecorder Recorder,
    IReadOnlyList<Violation> Violations)
{
    /// <summary>The workload, the script, the event log and the violations, as text for a failure report.</summary>
    public string Format()
    {
        var text = new StringBuilder();
        text.Append("  requests (").Append(Workload.Ops.Count).Append("):\n");
        for (int i = 0; i < Workload.Ops.Count; i++)
        {
            text.Append("    op").Append(i).Append(' ').Append(Workload.Ops[i]).Append('\n');
        }

        text.Append("  schedule: ").AppendJoin(", ", Script).Append(", then drain\n  events:\n");
        foreach (TraceEvent e in Recorder.Events)
        {
            text.Append("    ").Append(e.Clock.ToString("D3", System.Globalization.CultureInfo.InvariantCulture)).Append(' ')
                .Append(TraceEvent.Name(e.Kind).PadRight(10)).Append(' ');
            RequestRecord r = Recorder.Requests[(int)e.Sequence - 1];
            text.Append(r).Append(" (op").Append(r.Tag).Append(')');
            if (e.Kind is TraceEventKind.LandEnd or TraceEventKind.SyncEnd or TraceEventKind.Acknowledge)
            {
                text.Append(" -> ").Append(e.Result);
            }

            if (e.Kind == TraceEventKind.LandEnd && r.Op == BlockOp.Read && Recorder.ReadData(e.Sequence) is { } data)
            {
                text.Append(" read ").AppendJoin(' ', data.Take(8)).Append(data.Count > 8 ? " ..." : "");
            }

            text.Append('\n');
        }

        text.Append("  violations:\n");
        foreach (Violation v in Violations)
        {
            text.Append("    ").Append(v).Append('\n');
        }

        return text.ToString();
    }
}

/// <summary>
/// Drives a workload through a real <see cref="Sequencer"/> on one thread: an
/// <see cref="InlineDispatcher"/> over a <see cref="RecordingBackend"/> over a
/// <see cref="ControlledBackend"/>. At each step the scheduler either lets a queue submit its next
/// request (within the queue's in-flight window) or completes one pending backend operation of
/// its choice, maybe with a fault. Every choice comes from one seeded <see cref="Random"/> and is
/// recorded, so a seed reproduces a run exactly, on any machine, and a recorded script replays it.
/// </summary>
public static class ControlledScheduler
{
    /// <summary>Generates the workload of <paramref name="seed"/> and runs it under a random schedule.</summary>
    public static WorkloadRun Run(ulong seed, OrderingMode mode, EngineMutant mutant, WorkloadShape shape)
    {
        ArgumentNullException.ThrowIfNull(shape);
        var random = new Random(unchecked((int)SectorHeader.Mix(seed)));
        Workload workload = WorkloadGenerator.Generate(random, shape);
        using var harness = new Harness(workload, seed, mode, mutant, shape.CapacitySectors);
        var script = new List<ScheduleAction>();
        int ops = workload.Ops.Count;
        var nextOfQueue = new int[workload.Windows.Count];
        var queueOrder = new List<int>[workload.Windows.Count];
        for (int q = 0; q < queueOrder.Length; q++)
        {
            queueOrder[q] = [];
        }

        for (int i = 0; i < ops; i++)
        {
            queueOrder[workload.Ops[i].Queue].Add(i);
        }

        var ready = new List<int>(queueOrder.Length);
        while (true)
        {
            ready.Clear();
            for (int q = 0; q < queueOrder.Length; q++)
            {
                if (nextOfQueue[q] < queueOrder[q].Count && harness.InFlight(q) < workload.Windows[q])
                {
                    ready.Add(q);
                }
            }

            IReadOnlyList<BlockRequest> pending = harness.Backend.Pending;
            if (ready.Count == 0 && pending.Count == 0)
            {
                break; // Done, or the engine holds requests it will never release: the checker reports them.
            }

            ScheduleAction action;
            if (ready.Count > 0 && (pending.Count == 0 || random.NextDouble() < workload.SubmitBias))
            {
                int q = ready[random.Next(ready.Count)];
                action = new ScheduleAction(ScheduleActionKind.Submit, queueOrder[q][nextOfQueue[q]++]);
            }
            else
            {
                int op = pending[random.Next(pending.Count)].Tag;
                action = ChooseFault(random, op, workload.Ops[op], workload.FaultRate);
            }

            script.Add(action);
            harness.Apply(action);
        }

        return harness.Finish(script);
    }

    /// <summary>Runs <paramref name="workload"/> under <paramref name="script"/>, then drains what is left oldest-first.</summary>
    public static WorkloadRun Replay(
        Workload workload, IReadOnlyList<ScheduleAction> script, ulong seed, OrderingMode mode, EngineMutant mutant, ulong capacitySectors)
    {
        ArgumentNullException.ThrowIfNull(workload);
        ArgumentNullException.ThrowIfNull(script);
        using var harness = new Harness(workload, seed, mode, mutant, capacitySectors);
        foreach (ScheduleAction action in script)
        {
            harness.Apply(action);
        }

        harness.Drain();
        return harness.Finish(script);
    }

    private static ScheduleAction ChooseFault(Random random, int op, in WorkloadOp w, double rate)
    {
        if (rate <= 0 || random.NextDouble() >= rate)
        {
            return new ScheduleAction(ScheduleActionKind.Complete, op);
        }

        // 1 EIO, 2 ENOSPC, 3 a short write: recorded seeds replay only while these draws stay as they are.
        int kind = w.Op switch
        {
            BlockOp.Write => random.Next(1, 4),
            BlockOp.Discard or BlockOp.WriteZeroes => random.Next(1, 3),
            _ => 1,
        };
        if (kind == 3 && w.SectorCount < 2)
        {
            kind = 2; // A one-sector write has no prefix to land.
        }

        Fault fault = kind switch
        {
            1 => Fault.Eio,
            2 => Fault.NoSpace,
            _ => Fault.ShortNoSpace((uint)random.Next(1, (int)w.SectorCount)),
        };
        return new ScheduleAction(ScheduleActionKind.Complete, op, fault);
    }

    /// <summary>One device under test: the engine, its backends, the requests and their buffers.</summary>
    private sealed unsafe class Harness : IRequestCompletion, IDisposable
    {
        /// <summary>Read buffers start as this byte, so a read that returns without data shows as torn sectors.</summary>
        private const byte Poison = 0xA5;

        private readonly Workload _workload;
        private readonly ulong _seed;
        private readonly OrderingMode _mode;
        private readonly EngineMutant _mutant;
        private readonly ulong _capacity;
        private readonly TraceRecorder _recorder;
        private readonly Sequencer _sequencer;
        private readonly BlockRequest?[] _requests;
        private readonly int[] _inFlight;
        private readonly byte* _arena;
        private readonly int[] _offsets;

        public Harness(Workload workload, ulong seed, OrderingMode mode, EngineMutant mutant, ulong capacitySectors)
        {
            _workload = workload;
            _seed = seed;
            _mode = mode;
            _mutant = mutant;
            _capacity = capacitySectors;
            _recorder = new TraceRecorder(seed);
            Backend = new ControlledBackend((long)capacitySectors * BlockRequest.SectorSize);
            var recording = new RecordingBackend(Backend, _recorder);
            _sequencer = new Sequencer(mode, Backend.Length, c => new InlineDispatcher(recording, c), false, _recorder, mutant.Policy());
            _requests = new BlockRequest?[workload.Ops.Count];
            _inFlight = new int[workload.Windows.Count];
            _offsets = new int[workload.Ops.Count];
            int total = 0;
            for (int i = 0; i < workload.Ops.Count; i++)
            {
                _offsets[i] = total;
                total += workload.Ops[i].BufferBytes;
            }

            _arena = (byte*)NativeMemory.Alloc((nuint)Math.Max(total, 1));
            for (int i = 0; i < workload.Ops.Count; i++)
            {
                WorkloadOp op = workload.Ops[i];
                Span<byte> buffer = new(_arena + _offsets[i], op.BufferBytes);
                if (op.Op == BlockOp.Write)
                {
                    SectorHeader.FillRange(buffer, seed, op.WriteId, op.StartSector, (int)op.SectorCount);
                }
                else
                {
                    buffer.Fill(Poison);
                }
            }
        }

        public ControlledBackend Backend { get; }

        public int InFlight(int queue) => _inFlight[queue];

        public void Apply(in ScheduleAction action)
        {
            if (action.Op < 0 || action.Op >= _requests.Length)
            {
                return;
            }

            if (action.Kind == ScheduleActionKind.Submit)
            {
                Submit(action.Op);
            }
            else
            {
                Complete(action.Op, action.Fault);
            }
        }

        /// <summary>Completes what is pending oldest-first, submitting what was never submitted, until nothing moves.</summary>
        public void Drain()
        {
            int next = 0;
            while (true)
            {
                if (Backend.CompleteOldest())
                {
                    continue;
                }

                while (next < _requests.Length && _requests[next] is not null)
                {
                    next++;
                }

                if (next == _requests.Length)
                {
                    return;
                }

                Submit(next);
            }
        }

        public WorkloadRun Finish(IReadOnlyList<ScheduleAction> script)
        {
            IReadOnlyList<Violation> violations = InvariantChecker.Check(_recorder, _mode, _capacity);
            return new WorkloadRun(_seed, _mode, _mutant, _capacity, _workload, [.. script], _recorder, violations);
        }

        public void Complete(BlockRequest request, int result)
        {
            _inFlight[_workload.Ops[request.Tag].Queue]--;
        }

        public void Dispose()
        {
            _sequencer.Dispose();
            Backend.Dispose();
            NativeMemory.Free(_arena);
        }

        private void Submit(int op)
        {
            if (_requests[op] is not null)
            {
                return;
            }

            WorkloadOp w = _workload.Ops[op];

            // A fresh request per op: with the ack-before-land mutant a request is acknowledged while
            // the backend still holds it, so a reused slot could be overwritten under the backend.
            var request = new BlockRequest(w.Queue, op, this);
            request.Prepare(w.Op, w.Flags, w.StartSector, w.SectorCount, w.BufferBytes > 0 ? RequestBuffer.Memory((nint)(_arena + _offsets[op]), w.BufferBytes) : RequestBuffer.None);
            _requests[op] = request;
            _inFlight[w.Queue]++;
            _sequencer.Submit(request);
        }

        private void Complete(int op, Fault fault)
        {
            BlockRequest? r = _requests[op];
            if (r is null || !Backend.IsPending(r))
            {
                return; // A shrunk script may name an op that is not pending at this point: skip it.
            }

            Backend.Complete(r, fault);
        }
    }
}
