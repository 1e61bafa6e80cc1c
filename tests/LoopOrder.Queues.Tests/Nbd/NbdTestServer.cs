using System.Diagnostics;
using System.Net.Sockets;
using LoopOrder.Queues.Targets.Nbd;

namespace LoopOrder.Queues.Tests.Nbd;

/// <summary>
/// A real NBD server (nbdkit or qemu-nbd) on a Unix socket in a temporary directory, started by
/// the test and killed with it. A missing server is installed with apt-get when running as root
/// (CI); otherwise the test fails saying which package to install.
/// </summary>
internal sealed class NbdTestServer : IDisposable
{
    private static readonly object InstallGate = new();
    private static readonly TimeSpan StartLimit = TimeSpan.FromSeconds(30);
    private readonly Process _process;

    private NbdTestServer(string dir, string socket, Process process, string description)
    {
        Dir = dir;
        Socket = socket;
        _process = process;
        Description = description;
    }

    /// <summary>The temporary directory (socket, files); removed on dispose.</summary>
    public string Dir { get; }

    public string Socket { get; }

    public string Description { get; }

    /// <summary>Starts nbdkit with <paramref name="pluginAndFilters"/> (e.g. "--filter=delay", "memory", "size=64M").</summary>
    public static NbdTestServer Nbdkit(params string[] pluginAndFilters) => NbdkitIn(NewDir(), pluginAndFilters);

    /// <summary>Starts nbdkit in <paramref name="dir"/> (created when null).</summary>
    public static NbdTestServer NbdkitIn(string dir, params string[] pluginAndFilters)
    {
        Require("nbdkit", "nbdkit");
        string socket = Path.Combine(dir, "nbd.sock");
        string[] args = ["--foreground", "--exit-with-parent", "--unix", socket, .. pluginAndFilters];
        return Start(dir, socket, "nbdkit", args, "nbdkit " + string.Join(' ', pluginAndFilters));
    }

    /// <summary>Starts nbdkit on 127.0.0.1:<paramref name="port"/> instead of a Unix socket.</summary>
    public static NbdTestServer NbdkitTcp(int port, params string[] pluginAndFilters)
    {
        Require("nbdkit", "nbdkit");
        string[] args = ["--foreground", "--exit-with-parent", "--ipaddr", "127.0.0.1", "--port", port.ToString(System.Globalization.CultureInfo.InvariantCulture), .. pluginAndFilters];
        return Start(NewDir(), "127.0.0.1:" + port.ToString(System.Globalization.CultureInfo.InvariantCulture), "nbdkit", args, "nbdkit tcp " + string.Join(' ', pluginAndFilters));
    }

    /// <summary>Starts qemu-nbd on a raw file of <paramref name="size"/> bytes, exporting it as <paramref name="exportName"/>.</summary>
    public static NbdTestServer QemuNbd(long size, string exportName = "", int shared = 16)
    {
        Require("qemu-nbd", "qemu-utils");
        string dir = NewDir();
        string file = Path.Combine(dir, "disk.raw");
        using (var f = new FileStream(file, FileMode.CreateNew))
        {
            f.SetLength(size);
        }

        string socket = Path.Combine(dir, "nbd.sock");

        // --shared: several clients at once (the default is one); --persistent: stay up between them.
        string[] args = ["--socket", socket, "--format", "raw", "--shared", shared.ToString(System.Globalization.CultureInfo.InvariantCulture), "--persistent", "--export-name", exportName, file];
        return Start(dir, socket, "qemu-nbd", args, "qemu-nbd raw file");
    }

    public NbdUri Uri(string exportName = "") => NbdUri.Parse("nbd+unix:///" + Uri_Escape(exportName) + "?socket=" + Socket);

    /// <summary>SIGKILL: the server drops every connection without a word.</summary>
    public void Kill()
    {
        if (!_process.HasExited)
        {
            _process.Kill();
            _process.WaitForExit();
        }
    }

    public void Dispose()
    {
        Kill();
        _process.Dispose();
        try
        {
            Directory.Delete(Dir, recursive: true);
        }
        catch (IOException)
        {
            // A leftover temp dir is harmless.
        }
    }

    public static string NewDir()
    {
        string dir = Path.Combine(Path.GetTempPath(), "looporder-nbd-" + Guid.NewGuid().ToString("N")[..12]);
        Directory.CreateDirectory(dir);
        return dir;
    }

    private static string Uri_Escape(string name) => System.Uri.EscapeDataString(name);

    private static NbdTestServer Start(string dir, string socket, string program, string[] args, string description)
    {
        var psi = new ProcessStartInfo(program) { RedirectStandardError = true, RedirectStandardOutput = true, UseShellExecute = false };
        foreach (string a in args)
        {
            psi.ArgumentList.Add(a);
        }

        Process process = Process.Start(psi) ?? throw new InvalidOperationException("cannot start " + program);
        process.BeginOutputReadLine();
        var stderr = new System.Text.StringBuilder();
        process.ErrorDataReceived += (_, e) =>
        {
            lock (stderr)
            {
                stderr.AppendLine(e.Data);
            }
        };
        process.BeginErrorReadLine();
        var server = new NbdTestServer(dir, socket, process, description);

        // Ready when the socket accepts a connection (the probe connection is simply closed).
        var watch = Stopwatch.StartNew();
        while (true)
        {
            if (process.HasExited)
            {
                string err;
                lock (stderr)
                {
                    err = stderr.ToString();
                }

                int code = process.ExitCode;
                server.Dispose();
                throw new InvalidOperationException($"{description} exited with {code} before it listened: {err}");
            }

            bool tcp = socket.StartsWith("127.0.0.1:", StringComparison.Ordinal);
            if (tcp || File.Exists(socket))
            {
                using var probe = tcp
                    ? new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp)
                    : new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
                try
                {
                    probe.Connect(tcp ? System.Net.IPEndPoint.Parse(socket) : new UnixDomainSocketEndPoint(socket));
                    return server;
                }
                catch (SocketException)
                {
                    // Bound but not listening yet.
                }
            }

            if (watch.Elapsed > StartLimit)
            {
                server.Dispose();
                throw new InvalidOperationException(description + " did not listen within " + StartLimit.TotalSeconds + " s");
            }

            Thread.Sleep(20);
        }
    }

    private static void Require(string program, string package)
    {
        lock (InstallGate)
        {
            if (OnPath(program))
            {
                return;
            }

            if (Environment.UserName != "root")
            {
                throw new InvalidOperationException($"{program} is needed by the NBD tests: apt-get install {package}");
            }

            using var apt = Process.Start(new ProcessStartInfo("apt-get", ["install", "-y", "-q", package])
            {
                Environment = { ["DEBIAN_FRONTEND"] = "noninteractive" },
                RedirectStandardOutput = true,
            })!;
            apt.StandardOutput.ReadToEnd();
            apt.WaitForExit();
            if (!OnPath(program))
            {
                throw new InvalidOperationException($"{program} is needed by the NBD tests and apt-get install {package} did not provide it (exit {apt.ExitCode})");
            }
        }
    }

    private static bool OnPath(string program) =>
        (Environment.GetEnvironmentVariable("PATH") ?? string.Empty).Split(':')
            .Any(d => d.Length > 0 && File.Exists(Path.Combine(d, program)));
}
