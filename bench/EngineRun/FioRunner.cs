using System.Diagnostics;
using System.Globalization;
using System.Text.Json;

namespace LoopOrder.Bench.EngineRun;

/// <summary>Runs fio with the engine run's pattern and reads its JSON report.</summary>
internal static class FioRunner
{
    /// <summary>fio's arguments for one pattern (what the table's fio row ran).</summary>
    public static List<string> Arguments(BenchSettings s, int flushEvery) 
    {
        var args = new List<string>
        {
            "--name=x",
            $"--filename={s.File}",
            "--ioengine=io_uring",
            $"--direct={(s.Direct ? 1 : 0)}",
            $"--iodepth={s.Depth}",
            "--bs=4k",
            "--rw=randwrite",
            "--time_based",
            $"--ramp_time={s.WarmupSeconds.ToString(CultureInfo.InvariantCulture)}",
            $"--runtime={s.Seconds.ToString(CultureInfo.InvariantCulture)}",
            $"--size={s.Size.ToString(CultureInfo.InvariantCulture)}",
            "--lat_percentiles=1",
            "--output-format=json",
        };
        if (flushEvery > 0)
        {
            args.Add($"--{s.FioSync}={flushEvery}");
        }

        return args;
    }

    public static RunResult Run(BenchSettings s, int flushEvery)
    {
        var psi = new ProcessStartInfo("fio")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (string a in Arguments(s, flushEvery))
        {
            psi.ArgumentList.Add(a);
        }

        using Process p = Process.Start(psi) ?? throw new InvalidOperationException("fio did not start");
        Task<string> stderr = p.StandardError.ReadToEndAsync();
        string stdout = p.StandardOutput.ReadToEnd();
        p.WaitForExit();
        if (p.ExitCode != 0)
        {
            throw new InvalidOperationException($"fio exited {p.ExitCode}: {stderr.Result}");
        }

        // fio may print notes before the JSON document.
        int start = stdout.IndexOf('{', StringComparison.Ordinal);
        using JsonDocument doc = JsonDocument.Parse(stdout[start..]);
        JsonElement job = doc.RootElement.GetProperty("jobs")[0];
        JsonElement write = job.GetProperty("write");
        double iops = write.GetProperty("iops").GetDouble();
        double bytesPerSecond = write.GetProperty("bw_bytes").GetDouble();
        double p50 = 0, p99 = 0;
        if (write.TryGetProperty("lat_ns", out JsonElement lat) && lat.TryGetProperty("percentile", out JsonElement pct))
        {
            p50 = pct.GetProperty("50.000000").GetDouble();
            p99 = pct.GetProperty("99.000000").GetDouble();
        }

        double syncs = 0;
        if (job.TryGetProperty("sync", out JsonElement sync) && sync.TryGetProperty("total_ios", out JsonElement n))
        {
            syncs = n.GetDouble();
        }

        double cpu = job.GetProperty("usr_cpu").GetDouble() + job.GetProperty("sys_cpu").GetDouble();
        long errors = job.GetProperty("error").GetInt64();
        return new RunResult("fio", iops, bytesPerSecond, p50 / 1000, p99 / 1000, cpu, syncs / s.Seconds, errors);
    }
}
