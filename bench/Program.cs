using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Jobs;
using BenchmarkDotNet.Running;
using BenchmarkDotNet.Toolchains.InProcess.Emit;
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
            Console.WriteLine("usage: micro [--filter PATTERN ...]   BenchmarkDotNet micro-benchmarks");
            Console.WriteLine("       engine --seconds N [--file PATH] [--size BYTES] [--direct true|false] [--rounds 3] [--depth 32] [--flush-every 32] [--fio-sync fsync|fdatasync] [--skip-fio]");
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
        // In-process: BenchmarkDotNet 0.14 predates .NET 10 and its out-of-process toolchain does
        // not know the net10.0 moniker (it fails to generate the host project); in-process keeps the
        // host runtime, its JIT and GC settings, which is what is being measured anyway.
        IConfig config = DefaultConfig.Instance
            .AddJob(Job.Default.WithToolchain(InProcessEmitToolchain.Instance))
            .WithOptions(ConfigOptions.DisableOptimizationsValidator);
        var summaries = BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args, config);
        return summaries.Any(s => s.HasCriticalValidationErrors || s.Reports.Any(r => !r.Success)) ? 1 : 0;
    }

    private static int Fail(string message)
    {
        Console.Error.WriteLine(message);
        return 2;
    }
}
