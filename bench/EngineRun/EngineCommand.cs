using System.Diagnostics;
using System.Globalization;
using LoopOrder.Queues.Backends;
using LoopOrder.Queues.Engine;
using LoopOrder.Queues.Snapshots;
using LoopOrder.Queues.Tracking;
using LoopOrder.Interop;

namespace LoopOrder.Bench.EngineRun;

/// <summary>What one engine-vs-fio run uses.</summary>
internal sealed record BenchSettings(string File, long Size, bool Direct, double Seconds, double WarmupSeconds, int Depth, int FlushEvery, string FioSync, bool SkipFio, bool AllowTmpfs, int Rounds, int WorkersPerNode, bool RawExecutor, bool Gates = false);

/// <summary>One row of the table.</summary>
internal sealed record RunResult(string Runner, double Iops, double BytesPerSecond, double P50Us, double P99Us, double CpuPercent, double FlushesPerSecond, long Errors);

/// <summary>
/// <c>engine</c>: BlockEngine on a real file (FileBackend) against fio on the same file, same
/// pattern: 4 KiB random writes at queue depth 32, without and with a flush after every 32 writes.
/// Prints a table and ends with <c>min ratio engine/fio: X.XX</c> (engine IOPS over fio IOPS,
/// the smaller of the two patterns).
/// </summary>
/// <remarks>
/// A shared or virtual disk drifts by tens of percent between runs, so one run each would measure
/// the drift. Each pattern runs <c>--rounds</c> times as engine/fio pairs back to back (who goes
/// first alternates), the pattern's ratio is the median of the per-pair ratios, and the table
/// shows each runner's means. CPU µs/IO (process CPU time over writes) is the steadier signal of
/// the engine's own cost when the device dominates.
/// </remarks>
internal static class EngineCommand
{
    /// <summary>1 GiB: far larger than any disk cache the random writes could hide in, small enough to lay out in seconds.</summary>
    private const long DefaultSize = 1L << 30;

    private const string DefaultFile = "/var/tmp/looporder-bench.img";

    public static int Run(string[] args)
    {
        BenchSettings s;
        try
        {
            s = Parse(args);
        }
        catch (FormatException e)
        {
            Console.Error.WriteLine(e.Message);
            return 2;
        }

        string fsType = FileSystemType(Path.GetDirectoryName(Path.GetFullPath(s.File))!);
        Console.WriteLine($"file {s.File} on {fsType}, {s.Size} bytes, direct={s.Direct}, QD{s.Depth}, {s.WorkersPerNode} worker(s) per node, {s.Rounds} rounds of {s.Seconds}s per runner and pattern after {s.WarmupSeconds}s warm-up, {Environment.ProcessorCount} CPUs");
        if (fsType is "tmpfs" or "ramfs" && !s.AllowTmpfs)
        {
            Console.Error.WriteLine($"{s.File} is on {fsType}: fdatasync is free there and O_DIRECT is refused; pick a disk-backed path (--file) or pass --allow-tmpfs");
            return 2;
        }

        LayOut(s);

        var rows = new List<(string Pattern, RunResult Engine, RunResult? Fio, double Ratio)>();
        var rawRows = new List<(string Pattern, RunResult Raw, double Ratio)>();
        foreach (int flushEvery in (int[])[0, s.FlushEvery])
        {
            string pattern = flushEvery == 0 ? $"randwrite 4k QD{s.Depth}" : $"  + {(s.SkipFio ? "flush" : s.FioSync)} every {flushEvery}";
            var engines = new List<RunResult>();
            var fios = new List<RunResult>();
            var raws = new List<RunResult>();
            var tracked = new List<RunResult>();
            var copied = new List<RunResult>();
            for (int round = 0; round < s.Rounds; round++)
            {
                // Alternate who goes first, so a device that drifts (host cache, writeback) favours neither.
                if (round % 2 == 1 && !s.SkipFio)
                {
                    fios.Add(FioRunner.Run(s, flushEvery));
                }

                engines.Add(RunEngine(s, flushEvery));
                if (s.Gates)
                {
                    tracked.Add(RunEngine(s, flushEvery, "cbt"));
                    copied.Add(RunEngine(s, flushEvery, "cow"));
                    Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  {pattern.Trim()} round {round + 1}: +cbt {tracked[^1].Iops / engines[^1].Iops:F2}x, +cow {copied[^1].Iops / engines[^1].Iops:F2}x of the engine's IOPS"));
                }

                if (s.RawExecutor)
                {
                    raws.Add(RunRawExecutor(s, flushEvery));
                }

                if (round % 2 == 0 && !s.SkipFio)
                {
                    fios.Add(FioRunner.Run(s, flushEvery));
                }

                Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  {pattern.Trim()} round {round + 1}: engine {engines[^1].Iops:F0} IOPS{(s.RawExecutor ? $", executor {raws[^1].Iops:F0} IOPS" : "")}{(s.SkipFio ? "" : $", fio {fios[^1].Iops:F0} IOPS, ratio {engines[^1].Iops / fios[^1].Iops:F2}")}"));
            }

            double ratio = s.SkipFio ? double.NaN : Median(engines.Zip(fios, (e, f) => e.Iops / f.Iops));
            rows.Add((pattern, Mean(engines), s.SkipFio ? null : Mean(fios), ratio));
            if (s.Gates)
            {
                // Ratio here: to the engine without the gate, median over rounds.
                rawRows.Add((pattern, Mean(tracked), Median(tracked.Zip(engines, (t, e) => t.Iops / e.Iops))));
                rawRows.Add((pattern, Mean(copied), Median(copied.Zip(engines, (c, e) => c.Iops / e.Iops))));
            }

            if (s.RawExecutor)
            {
                rawRows.Add((pattern, Mean(raws), s.SkipFio ? double.NaN : Median(raws.Zip(fios, (e, f) => e.Iops / f.Iops))));
            }
        }

        Console.WriteLine();
        Console.WriteLine($"{"pattern",-26} {"runner",-7} {"IOPS",10} {"MB/s",8} {"p50 us",8} {"p99 us",8} {"CPU %",6} {"CPU us/IO",9} {"flush/s",8} {"ratio",6}");
        double minRatio = double.MaxValue;
        foreach ((string pattern, RunResult engine, RunResult? fio, double ratio) in rows)
        {
            Print(pattern, engine, ratio);
            if (fio is not null)
            {
                Print("", fio, double.NaN);
                minRatio = Math.Min(minRatio, ratio);
            }

            if (engine.Errors != 0 || fio?.Errors > 0)
            {
                Console.WriteLine($"  errors: engine {engine.Errors}, fio {fio?.Errors}");
            }
        }

        foreach ((string pattern, RunResult raw, double ratio) in rawRows)
        {
            Print(pattern, raw, ratio);
        }

        Console.WriteLine();
        if (!s.SkipFio)
        {
            Console.WriteLine($"fio: fio {string.Join(' ', FioRunner.Arguments(s, s.FlushEvery))}");
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"min ratio engine/fio: {minRatio:F2}"));
        }

        return rows.Any(r => r.Engine.Errors != 0) ? 1 : 0;
    }

    /// <summary>The mean of each column over the rounds.</summary>
    private static RunResult Mean(List<RunResult> runs) => new(
        runs[0].Runner,
        runs.Average(r => r.Iops),
        runs.Average(r => r.BytesPerSecond),
        runs.Average(r => r.P50Us),
        runs.Average(r => r.P99Us),
        runs.Average(r => r.CpuPercent),
        runs.Average(r => r.FlushesPerSecond),
        runs.Sum(r => r.Errors));

    private static double Median(IEnumerable<double> values)
    {
        double[] v = [.. values.Order()];
        return v.Length % 2 == 1 ? v[v.Length / 2] : (v[(v.Length / 2) - 1] + v[v.Length / 2]) / 2;
    }

    private static void Print(string pattern, RunResult r, double ratio) =>
        Console.WriteLine(string.Create(
            CultureInfo.InvariantCulture,
            $"{pattern,-26} {r.Runner,-7} {r.Iops,10:F0} {r.BytesPerSecond / 1e6,8:F1} {r.P50Us,8:F1} {r.P99Us,8:F1} {r.CpuPercent,6:F1} {r.CpuPercent * 1e4 / r.Iops,9:F1} {r.FlushesPerSecond,8:F0} {(double.IsNaN(ratio) ? "" : ratio.ToString("F2", CultureInfo.InvariantCulture)),6}"));

    /// <summary>
    /// Runs the closed loop through BlockEngine over a FileBackend for the measured time. With
    /// <paramref name="gate"/> "cbt" (changed-block tracking) or "cow" (a copy-on-write snapshot),
    /// a snapshot barrier right before the measured window starts a fresh generation or store, so
    /// the window pays the first-touch cost (a metadata sync, or a 64 KiB copy and sync, per region
    /// first written, batched): the worst case, just after a snapshot.
    /// </summary>
    private static RunResult RunEngine(BenchSettings s, int flushEvery, string gate = "")
    {
        var backend = new FileBackend(new FileBackendOptions { Path = s.File, DirectIo = s.Direct, Size = s.Size, Create = true });
        string cbt = s.File + ".bench.cbt", store = s.File + ".bench.cow";
        File.Delete(cbt);
        File.Delete(store);
        CopyOnWrite? cow = gate == "cow" ? new CopyOnWrite(FileCowSource.Open(s.File), s.Size) : null;
        try
        {
            using var engine = BlockEngine.Create(backend, new EngineOptions
            {
                MaxInFlight = s.Depth + 1, // and the barrier
                WorkersPerNode = s.WorkersPerNode,
                Tracking = gate == "cbt" ? new TrackerOptions { MetadataPath = cbt } : null,
                CopyOnWrite = cow,
            });
            using var loop = new ClosedLoop(engine, s.Depth, flushEvery, s.Size);
            Action? fresh = gate switch
            {
                "cbt" => () => engine.Snapshot(() => { }, TimeSpan.FromSeconds(60)),
                "cow" => () => engine.Snapshot(
                    () => cow!.Add(CowStore.Create(FileDescriptor.Open(store, OpenFlags.ReadWrite | OpenFlags.Create | OpenFlags.Exclusive), store,
                        new CowStoreHeader("bench", cow.ChunkSize, s.Size, 0, DateTimeOffset.UtcNow))),
                    TimeSpan.FromSeconds(60)),
                _ => null,
            };
            RunResult result = Measure(gate == "" ? "engine" : "+" + gate, loop, s, fresh);
            if (engine.Tracker is { } t)
            {
                Console.WriteLine($"    +cbt: {t.Commits} metadata commits, {t.HeldWrites} writes held for one, {t.RegionCount} regions");
            }

            if (cow is not null)
            {
                Console.WriteLine($"    +cow: {cow.CopiedChunks} chunks copied in {cow.Rounds} rounds, {cow.HeldWrites} writes held for a copy");
            }

            return result;
        }
        finally
        {
            File.Delete(cbt);
            File.Delete(store);
        }
    }

    /// <summary>The same load straight on one FileBackend executor (no engine), for the "executor" row.</summary>
    private static RunResult RunRawExecutor(BenchSettings s, int flushEvery)
    {
        using var backend = new FileBackend(new FileBackendOptions { Path = s.File, DirectIo = s.Direct, Size = s.Size, Create = true });
        using var loop = new RawExecutorLoop(backend, s.Depth, flushEvery);
        return Measure("executor", loop, s);
    }

    /// <summary>Starts <paramref name="loop"/>, warms up, measures for the set time (process CPU included), drains.</summary>
    private static RunResult Measure(string runner, SlotLoad loop, BenchSettings s, Action? beforeMeasuring = null)
    {
        loop.Start();
        Thread.Sleep(TimeSpan.FromSeconds(s.WarmupSeconds));
        beforeMeasuring?.Invoke();

        TimeSpan cpu0 = Process.GetCurrentProcess().TotalProcessorTime;
        long t0 = Stopwatch.GetTimestamp();
        loop.BeginMeasuring();
        Thread.Sleep(TimeSpan.FromSeconds(s.Seconds));
        loop.EndMeasuring();
        double elapsed = Stopwatch.GetElapsedTime(t0).TotalSeconds;
        TimeSpan cpu1 = Process.GetCurrentProcess().TotalProcessorTime;

        if (!loop.StopAndDrain(TimeSpan.FromSeconds(30)))
        {
            throw new InvalidOperationException($"the {runner} loop did not drain within 30 s");
        }

        double iops = loop.WritesMeasured / elapsed;
        return new RunResult(
            runner,
            iops,
            iops * 4096,
            loop.Latency.Percentile(50) / 1000,
            loop.Latency.Percentile(99) / 1000,
            (cpu1 - cpu0).TotalSeconds / elapsed * 100,
            loop.FlushesMeasured / elapsed,
            loop.Errors);
    }

    /// <summary>Writes the whole file once (unless it already has the size), so both runners overwrite allocated blocks.</summary>
    private static void LayOut(BenchSettings s)
    {
        var info = new FileInfo(s.File);
        if (info.Exists && info.Length == s.Size)
        {
            return;
        }

        Console.WriteLine($"laying out {s.File} ({s.Size} bytes)...");
        const int Chunk = 1 << 20;
        var data = new byte[Chunk];
        new Random(42).NextBytes(data);
        using (var f = new FileStream(s.File, FileMode.Create, FileAccess.Write, FileShare.None, 0))
        {
            for (long done = 0; done < s.Size; done += Chunk)
            {
                f.Write(data, 0, (int)Math.Min(Chunk, s.Size - done));
            }

            f.Flush(flushToDisk: true);
        }
    }

    /// <summary>The filesystem type of <paramref name="dir"/> as <c>df -T</c> reports it.</summary>
    private static string FileSystemType(string dir)
    {
        // "Filesystem Type 1K-blocks Used Available Use% Mounted on", then one line per mount.
        var psi = new ProcessStartInfo("df", ["-T", dir]) { RedirectStandardOutput = true, UseShellExecute = false };
        using Process p = Process.Start(psi)!;
        string[] lines = p.StandardOutput.ReadToEnd().Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        p.WaitForExit();
        string[] fields = lines.Length >= 2 ? lines[1].Split(' ', StringSplitOptions.RemoveEmptyEntries) : [];
        return fields.Length >= 2 ? fields[1] : "unknown";
    }

    private static BenchSettings Parse(string[] args)
    {
        string file = DefaultFile;
        long size = DefaultSize;
        bool direct = true, skipFio = false, allowTmpfs = false, raw = false, gates = false;
        double? seconds = null;
        double warmup = 1;
        int depth = 32, flushEvery = 32, rounds = 5, workers = 1;
        string fioSync = "fsync";
        for (int i = 0; i < args.Length; i++)
        {
            string Value() => i + 1 < args.Length ? args[++i] : throw new FormatException($"{args[i]} needs a value");
            switch (args[i])
            {
                case "--seconds": seconds = double.Parse(Value(), CultureInfo.InvariantCulture); break;
                case "--warmup": warmup = double.Parse(Value(), CultureInfo.InvariantCulture); break;
                case "--file": file = Value(); break;
                case "--size": size = long.Parse(Value(), CultureInfo.InvariantCulture); break;
                case "--direct": direct = bool.Parse(Value()); break;
                case "--depth": depth = int.Parse(Value(), CultureInfo.InvariantCulture); break;
                case "--flush-every": flushEvery = int.Parse(Value(), CultureInfo.InvariantCulture); break;
                case "--fio-sync": fioSync = Value() is "fsync" or "fdatasync" ? args[i] : throw new FormatException("--fio-sync takes fsync or fdatasync"); break;
                case "--rounds": rounds = int.Parse(Value(), CultureInfo.InvariantCulture); break;
                case "--workers": workers = int.Parse(Value(), CultureInfo.InvariantCulture); break;
                case "--skip-fio": skipFio = true; break;
                case "--raw-executor": raw = true; break;
                case "--gates": gates = true; break;
                case "--allow-tmpfs": allowTmpfs = true; break;
                default: throw new FormatException($"unknown option {args[i]}");
            }
        }

        if (seconds is not > 0)
        {
            throw new FormatException("--seconds N (N > 0) is required");
        }

        if (size <= 0 || size % 4096 != 0 || depth <= 0 || flushEvery <= 0 || rounds <= 0 || workers <= 0)
        {
            throw new FormatException("--size must be a positive multiple of 4096; --depth, --flush-every, --rounds and --workers positive");
        }

        return new BenchSettings(file, size, direct, seconds.Value, warmup, depth, flushEvery, fioSync, skipFio, allowTmpfs, rounds, workers, raw, gates);
    }
}
