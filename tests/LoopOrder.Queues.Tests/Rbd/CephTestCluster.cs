using System.Diagnostics;
using System.Globalization;

namespace LoopOrder.Queues.Tests.Rbd;

/// <summary>
/// A one-node Ceph cluster (tests/ceph/cluster.sh: one monitor, one memstore OSD, cephx, pool
/// "rbd" of size 1) in a temporary directory, started once for the tests that share it and
/// stopped with them. Missing Ceph packages are installed with apt-get when running as root
/// (CI), as the NBD tests do with nbdkit; otherwise the tests fail saying what to install.
/// </summary>
public sealed class CephTestCluster : IDisposable
{
    private static readonly object InstallGate = new();
    private static int _images;

    public CephTestCluster()
    {
        Require();
        Dir = Path.Combine(Path.GetTempPath(), "looporder-ceph-" + Guid.NewGuid().ToString("N")[..12]);
        Script("start", Dir);
        Conf = Path.Combine(Dir, "ceph.conf");
        Keyring = Path.Combine(Dir, "keyring");
    }

    /// <summary>The cluster's directory; removed on dispose.</summary>
    public string Dir { get; }

    /// <summary>The cluster's ceph.conf (it names <see cref="Keyring"/>).</summary>
    public string Conf { get; }

    /// <summary>client.admin's keyring.</summary>
    public string Keyring { get; }

    public const string Pool = "rbd";

    /// <summary>The repository's tests/ceph/cluster.sh.</summary>
    public static string ScriptPath
    {
        get
        {
            for (string? d = AppContext.BaseDirectory; d is not null; d = Path.GetDirectoryName(d))
            {
                string s = Path.Combine(d, "tests", "ceph", "cluster.sh");
                if (File.Exists(s))
                {
                    return s;
                }
            }

            throw new InvalidOperationException("tests/ceph/cluster.sh not found above " + AppContext.BaseDirectory);
        }
    }

    /// <summary>Creates a new image (a unique name) of <paramref name="bytes"/> bytes; with the exclusive-lock feature unless told otherwise.</summary>
    public string CreateImage(long bytes, bool exclusiveLock = true)
    {
        string name = "img" + Interlocked.Increment(ref _images).ToString(CultureInfo.InvariantCulture);
        Run("rbd", "-c", Conf, "create", "--size", (bytes >> 20).ToString(CultureInfo.InvariantCulture) + "M",
            "--image-feature", exclusiveLock ? "layering,exclusive-lock" : "layering", Pool + "/" + name);
        return name;
    }

    /// <summary>The image's bytes, read past LoopOrder by `rbd export`.</summary>
    public byte[] Export(string image)
    {
        string file = Path.Combine(Dir, image + ".export");
        File.Delete(file);
        Run("rbd", "-c", Conf, "export", "--no-progress", Pool + "/" + image, file);
        byte[] bytes = File.ReadAllBytes(file);
        File.Delete(file);
        return bytes;
    }

    /// <summary>`rbd resize` by another client (this process's librbd, holding the lock, carries it out); shrinking needs <paramref name="shrink"/>.</summary>
    public void ResizeImage(string image, long bytes, bool shrink = false) =>
        Run("rbd", ["-c", Conf, "resize", "--no-progress", "--size", (bytes >> 20).ToString(CultureInfo.InvariantCulture) + "M", .. (shrink ? new[] { "--allow-shrink" } : []), Pool + "/" + image]);

    /// <summary>The image's size as `rbd info` reports it.</summary>
    public long ImageSize(string image)
    {
        string json = Run("rbd", "-c", Conf, "info", "--format", "json", Pool + "/" + image);
        using var doc = System.Text.Json.JsonDocument.Parse(json);
        return doc.RootElement.GetProperty("size").GetInt64();
    }

    /// <summary>SIGSTOP the OSD: every operation waits, none fails, as with a cluster that does not answer.</summary>
    public void PauseOsd() => Script("osd-pause", Dir);

    public void ResumeOsd() => Script("osd-resume", Dir);

    public void Dispose() => Script("stop", Dir);

    private static void Script(string command, string dir) => Run("bash", ScriptPath, command, dir);

    public static string Run(string program, params string[] args)
    {
        var psi = new ProcessStartInfo(program) { RedirectStandardError = true, RedirectStandardOutput = true, UseShellExecute = false };
        foreach (string a in args)
        {
            psi.ArgumentList.Add(a);
        }

        using Process p = Process.Start(psi) ?? throw new InvalidOperationException("cannot start " + program);
        Task<string> err = p.StandardError.ReadToEndAsync();
        string output = p.StandardOutput.ReadToEnd();
        p.WaitForExit();
        if (p.ExitCode != 0)
        {
            throw new InvalidOperationException($"{program} {string.Join(' ', args)} exited {p.ExitCode}: {err.Result}{output}");
        }

        return output;
    }

    private static void Require()
    {
        lock (InstallGate)
        {
            string[] missing = [.. new[] { ("ceph-mon", "ceph-mon"), ("ceph-osd", "ceph-osd"), ("ceph", "ceph-common"), ("rbd", "ceph-common") }
                .Where(p => !OnPath(p.Item1)).Select(p => p.Item2).Distinct()];
            if (missing.Length == 0)
            {
                return;
            }

            if (Environment.UserName != "root")
            {
                throw new InvalidOperationException($"the RBD tests start a Ceph cluster: apt-get install {string.Join(' ', missing)}");
            }

            using var apt = Process.Start(new ProcessStartInfo("apt-get", ["install", "-y", "-q", "--no-install-recommends", .. missing])
            {
                Environment = { ["DEBIAN_FRONTEND"] = "noninteractive" },
                RedirectStandardOutput = true,
            })!;
            apt.StandardOutput.ReadToEnd();
            apt.WaitForExit();
            if (!OnPath("ceph-mon") || !OnPath("ceph-osd"))
            {
                throw new InvalidOperationException($"the RBD tests need {string.Join(' ', missing)} and apt-get install did not provide them (exit {apt.ExitCode})");
            }
        }
    }

    private static bool OnPath(string program) =>
        (Environment.GetEnvironmentVariable("PATH") + ":/usr/sbin:/sbin").Split(':')
            .Any(d => d.Length > 0 && File.Exists(Path.Combine(d, program)));
}

/// <summary>
/// The tests that share one cluster; xunit runs them one after another, and apart from every
/// other test: the allocation test measures the whole process, and the fault tests' timeouts
/// should not stretch under a busy test run.
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class CephCollection : ICollectionFixture<CephTestCluster>
{
    public const string Name = "ceph";
}
