using System.Globalization;
using LoopOrder.Queues.Ordering;
using LoopOrder.Verification.Mutants;

namespace LoopOrder.Verification;

/// <summary>What <c>loop-order verify</c> runs.</summary>
public sealed record VerifyOptions
{
    /// <summary>The ordering mode under test (<c>--mode drain|strict|none</c>).</summary>
    public OrderingMode Mode { get; init; } = OrderingMode.Drain;

    /// <summary>The run's seed (<c>--seed S</c>); workload 0 uses it as is, so a reported workload seed reproduces with <c>--iterations 1</c>.</summary>
    public ulong Seed { get; init; }

    /// <summary>Random workloads to run (<c>--iterations N</c>).</summary>
    public int Iterations { get; init; } = 2000;

    /// <summary>A deliberate engine breakage (<c>--mutant NAME</c>), to watch the checker catch it.</summary>
    public EngineMutant Mutant { get; init; } = EngineMutant.None;

    /// <summary>Sizes and mix of the random workloads.</summary>
    public WorkloadShape Shape { get; init; } = new();

    /// <summary>Also run one ext4/jbd2 vector (and recover its crash images) per this many workloads; 0 for none.</summary>
    public int Jbd2Every { get; init; } = 20;

    /// <summary>Failing workloads to shrink and print in full; the rest get one summary line (up to <see cref="SummaryLines"/>).</summary>
    public int ShrinkReports { get; init; } = 1;

    /// <summary>Failing workloads listed one line each.</summary>
    public int SummaryLines { get; init; } = 10;

    /// <summary>Where to write sampled whole crash images (one directory; null writes none).</summary>
    public string? CrashImageDirectory { get; init; }

    /// <summary>Crash images sampled per workload, for the first <see cref="CrashImageWorkloads"/> workloads, when <see cref="CrashImageDirectory"/> is set.</summary>
    public int CrashImagesPerWorkload { get; init; } = 4;

    /// <summary>Workloads whose crash images are written.</summary>
    public int CrashImageWorkloads { get; init; } = 8;
}

/// <summary>
/// The <c>verify</c> command: runs seeded random workloads (and jbd2 vectors) against the engine
/// under the controlled scheduler, checks every trace, shrinks and prints failures, and ends with
/// <c>verify: N workloads, V violations, mode M, seed S</c>.
/// </summary>
public static class VerifyRunner
{
    /// <summary>Runs <paramref name="options"/>, writing the report to <paramref name="output"/>; returns 1 when any violation was found, else 0.</summary>
    public static int Run(VerifyOptions options, TextWriter output)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(output);
        ArgumentOutOfRangeException.ThrowIfNegative(options.Iterations);
        string mode = options.Mode.ToString().ToLowerInvariant();
        CultureInfo c = CultureInfo.InvariantCulture;
        output.WriteLine(string.Create(c,
            $"verifying: mode {mode}, seed {options.Seed}, {options.Iterations} workloads, mutant {Name(options.Mutant)}"));
        if ((options.Mutant == EngineMutant.StrictNoHold && options.Mode != OrderingMode.Strict) ||
            (options.Mutant == EngineMutant.FlushWithoutWait && options.Mode == OrderingMode.None))
        {
            // These mutants break a promise this mode does not make: nothing changes, nothing is caught.
            output.WriteLine($"note: mutant {Name(options.Mutant)} has no effect in mode {mode}");
        }
        else if (options.Mutant is EngineMutant.DispatchBeforeMark or EngineMutant.LateGenerationClose)
        {
            // verify's workloads run without changed-block tracking; TrackingRun checks this one.
            output.WriteLine($"note: mutant {Name(options.Mutant)} has no effect without changed-block tracking");
        }
        else if (options.Mutant == EngineMutant.SnapshotNoHold)
        {
            // verify's workloads take no snapshots; SnapshotRun checks this one.
            output.WriteLine($"note: mutant {Name(options.Mutant)} has no effect without snapshots");
        }

        var byInvariant = new SortedDictionary<Invariant, long>();
        long violations = 0;
        int failing = 0, shrunk = 0, jbd2 = 0, jbd2Images = 0;
        for (int i = 0; i < options.Iterations; i++)
        {
            ulong seed = WorkloadSeed(options.Seed, i);
            WorkloadRun run = ControlledScheduler.Run(seed, options.Mode, options.Mutant, options.Shape);
            if (options.CrashImageDirectory is { } dir && i < options.CrashImageWorkloads && options.CrashImagesPerWorkload > 0)
            {
                var model = PowerCutModel.Build(run.Recorder, run.Mode, run.CapacitySectors);
                CrashImageSampler.WriteImages(model, dir, string.Create(c, $"{mode}-{seed:x16}"), options.CrashImagesPerWorkload,
                    new Random(unchecked((int)seed)));
            }

            if (run.Violations.Count > 0)
            {
                violations += Tally(run.Violations, byInvariant);
                if (failing++ < options.SummaryLines)
                {
                    output.WriteLine(string.Create(c,
                        $"FAIL workload {i} seed {seed}: {Summary(run.Violations)}; reproduce: loop-order verify --mode {mode} " +
                        $"--seed {seed} --iterations 1{(options.Mutant == EngineMutant.None ? "" : $" --mutant {Name(options.Mutant)}")}"));
                }

                if (shrunk++ < options.ShrinkReports)
                {
                    Invariant target = run.Violations[0].Invariant;
                    WorkloadRun small = Shrinker.Shrink(run, target);
                    output.WriteLine(string.Create(c,
                        $"  first violation: {run.Violations[0]}\n  shrunk ({target}) from {run.Workload.Ops.Count} to " +
                        $"{small.Workload.Ops.Count} requests:"));
                    output.Write(small.Format());
                }
            }

            if (options.Jbd2Every > 0 && i % options.Jbd2Every == 0)
            {
                ulong vectorSeed = SectorHeader.Mix(seed ^ 0x6A62_6432UL);
                Jbd2Result vector = Jbd2Vector.Run(vectorSeed, options.Mode, options.Mutant);
                jbd2++;
                jbd2Images += vector.ImagesChecked;
                if (vector.Violations.Count > 0)
                {
                    violations += Tally(vector.Violations, byInvariant);
                    if (failing++ < options.SummaryLines)
                    {
                        output.WriteLine(string.Create(c,
                            $"FAIL jbd2 vector {vectorSeed} (after workload {i}): {Summary(vector.Violations)}\n  first: {vector.Violations[0]}"));
                    }
                }
            }
        }

        if (failing > options.SummaryLines)
        {
            output.WriteLine(string.Create(c, $"... {failing - options.SummaryLines} more failing runs"));
        }

        output.WriteLine(string.Create(c, $"jbd2: {jbd2} vectors, {jbd2Images} crash images recovered"));
        foreach ((Invariant invariant, long count) in byInvariant)
        {
            output.WriteLine(string.Create(c, $"  {invariant}: {count} violations"));
        }

        output.WriteLine(string.Create(c, $"verify: {options.Iterations} workloads, {violations} violations, mode {mode}, seed {options.Seed}"));
        return violations > 0 ? 1 : 0;
    }

    /// <summary>The seed of workload <paramref name="iteration"/>: the run's seed for the first, a mix of it after.</summary>
    public static ulong WorkloadSeed(ulong seed, int iteration) =>
        iteration == 0 ? seed : SectorHeader.Mix(seed + (0x9E3779B97F4A7C15UL * (ulong)iteration));

    /// <summary>The command-line name of a mutant (kebab case).</summary>
    public static string Name(EngineMutant mutant) => mutant switch
    {
        EngineMutant.None => "none",
        EngineMutant.AckBeforeLand => "ack-before-land",
        EngineMutant.FlushWithoutWait => "flush-without-wait",
        EngineMutant.IgnoreSyncError => "ignore-sync-error",
        EngineMutant.StrictNoHold => "strict-no-hold",
        EngineMutant.ReorderOverlap => "reorder-overlap",
        EngineMutant.DispatchBeforeMark => "dispatch-before-mark",
        EngineMutant.SnapshotNoHold => "snapshot-no-hold",
        EngineMutant.LateGenerationClose => "late-generation-close",
        _ => mutant.ToString(),
    };

    /// <summary>Parses a mutant's command-line name (kebab case, or the enum name); false when unknown.</summary>
    public static bool TryParseMutant(string text, out EngineMutant mutant)
    {
        foreach (EngineMutant m in Enum.GetValues<EngineMutant>())
        {
            if (string.Equals(text, Name(m), StringComparison.OrdinalIgnoreCase) ||
                string.Equals(text, m.ToString(), StringComparison.OrdinalIgnoreCase))
            {
                mutant = m;
                return true;
            }
        }

        mutant = EngineMutant.None;
        return false;
    }

    private static long Tally(IReadOnlyList<Violation> found, SortedDictionary<Invariant, long> byInvariant)
    {
        foreach (Violation v in found)
        {
            byInvariant[v.Invariant] = byInvariant.GetValueOrDefault(v.Invariant) + 1;
        }

        return found.Count;
    }

    private static string Summary(IReadOnlyList<Violation> found) =>
        string.Join(", ", found.GroupBy(v => v.Invariant).OrderBy(g => g.Key).Select(g => $"{g.Key} x{g.Count()}"));
}
