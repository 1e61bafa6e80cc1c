using System.CommandLine;
using LoopOrder.Queues.Ordering;
using LoopOrder.Verification;
using LoopOrder.Verification.Mutants;

namespace LoopOrder.Service.Commands;

/// <summary>
/// <c>loop-order verify --mode drain|strict|none --seed S --iterations N [--mutant NAME] [--images DIR]</c>:
/// runs seeded random workloads through the real Sequencer under a controlled scheduler, checks
/// every recorded trace against the invariants and the power-cut model, and ends with
/// <c>verify: N workloads, V violations, mode M, seed S</c>. Exit 1 when V &gt; 0. Needs no kernel.
/// </summary>
public static class VerifyCommand
{
    /// <summary>Builds the <c>verify</c> subcommand.</summary>
    public static Command Create()
    {
        var mode = new Option<OrderingMode>("--mode", "-m") { Description = "Ordering mode to check: drain (default), strict, or none (expected to violate D1).", DefaultValueFactory = _ => OrderingMode.Drain };
        var seed = new Option<ulong>("--seed", "-s") { Description = "Seed of the campaign; workload i uses a seed derived from it, and iteration 0 uses it as given. Default: 1.", DefaultValueFactory = _ => 1UL };
        var iterations = new Option<int>("--iterations", "-n") { Description = "Workloads to run. Default: 2000.", DefaultValueFactory = _ => 2000 };
        var mutant = new Option<string>("--mutant") { Description = "Break the engine on purpose to show the checker catches it: none (default), ack-before-land, flush-without-wait, ignore-sync-error, strict-no-hold, reorder-overlap.", DefaultValueFactory = _ => "none" };
        var images = new Option<DirectoryInfo?>("--images") { Description = "Also write sampled whole crash images into this directory. Default: none written." };
        mutant.Validators.Add(r =>
        {
            if (!VerifyRunner.TryParseMutant(r.GetValueOrDefault<string>() ?? "", out _))
            {
                r.AddError($"unknown --mutant '{r.GetValueOrDefault<string>()}'; use none, ack-before-land, flush-without-wait, ignore-sync-error, strict-no-hold or reorder-overlap.");
            }
        });

        var command = new Command("verify", "Check the ordering contract on seeded random workloads (no kernel needed).")
        {
            mode, seed, iterations, mutant, images,
        };
        command.SetAction(parse =>
        {
            // Checked here, not in a validator: a validator also runs when the value did not parse
            // ("--iterations many"), and reading it there throws instead of reporting.
            if (parse.GetValue(iterations) < 1)
            {
                parse.InvocationConfiguration.Error.WriteLine("loop-order verify: --iterations must be at least 1.");
                return ExitCodes.Usage;
            }

            VerifyRunner.TryParseMutant(parse.GetValue(mutant)!, out EngineMutant m);
            var options = new VerifyOptions
            {
                Mode = parse.GetValue(mode),
                Seed = parse.GetValue(seed),
                Iterations = parse.GetValue(iterations),
                Mutant = m,
                CrashImageDirectory = parse.GetValue(images)?.FullName,
            };
            return VerifyRunner.Run(options, parse.InvocationConfiguration.Output);
        });
        return command;
    }
}
