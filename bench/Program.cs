using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Running;
using LoopOrder.Bench.EngineRun;

namespace LoopOrder.Bench;

/// <summary>
/// <c>micro [BenchmarkDotNet args]</c>: the engine's micro-benchmarks.
/// <c>engine --seconds N [--file PATH] [--size BYTES] [--direct true|false] ...</c>: BlockEngine
/// against fio on one file (see <see cref="EngineCommand"/>).
/// </summary>
public static class Program
{
    public static int Main(string[] args)
    {
        if (args.Length == 0 || args[0] is "-h" or "--help")
        {
            Console.WriteLine("usage: micro [--filter PATTERN] [--inProcess] [...]   BenchmarkDotNet micro-benchmarks");
            Console.WriteLine("       engine --seconds N [--file PATH] [--size BYTES] [--direct true|false] [--rounds 5] [--workers 1] [--depth 32] [--flush-every 32] [--fio-sync fsync|fdatasync] [--skip-fio] [--raw-executor] [--gates]");
            return args.Length == 0 ? 2 : 0;
        }

        return args[0] switch
        {
            "micro" => Micro(args[1..]),
            "engine" => EngineCommand.Run(args[1..]),
            _ => Fail($"unknown command '{args[0]}'"),
        };
    }

    private static int Micro(string[] args)
    {
        // The default job, out of process, on the host runtime: BenchmarkDotNet 0.14 has no
        // net10.0 moniker, but with no runtime named it builds its host project for the running
        // one (checked: it generates and runs a net10.0 host). Pass --inProcess for a quicker
        // in-process run (same numbers within noise here, no project build).
        var summaries = BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args, DefaultConfig.Instance);
        return summaries.Any(s => s.HasCriticalValidationErrors || s.Reports.Any(r => !r.Success)) ? 1 : 0;
    }

    private static int Fail(string message)
    {
        Console.Error.WriteLine(message);
        return 2;
    }
}
