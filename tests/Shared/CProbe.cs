using System.Diagnostics;

namespace LoopOrder.Tests.Shared;

/// <summary>
/// Compiles a small C program with gcc and runs it, for the tests that take the kernel's and
/// libc's own headers as the ground truth of a layout or a constant. Linked into each test
/// project that needs it; each caller parses the output its way.
/// </summary>
internal static class CProbe
{
    /// <summary>Compiles <paramref name="program"/> with <paramref name="cflags"/> (plus -std=gnu11 -Wall -Werror), runs it, and returns its standard output.</summary>
    /// <param name="program">The C source.</param>
    /// <param name="cflags">Extra gcc flags, e.g. -I for the headers under test.</param>
    /// <param name="what">What the headers are, for the error messages.</param>
    /// <exception cref="InvalidOperationException">gcc is missing, the program does not compile, or it fails.</exception>
    public static string CompileAndRun(string program, IEnumerable<string> cflags, string what)
    {
        string dir = Path.Combine(Path.GetTempPath(), "looporder-probe-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(dir);
        try
        {
            string source = Path.Combine(dir, "probe.c");
            string binary = Path.Combine(dir, "probe");
            File.WriteAllText(source, program);
            (int rc, string stdout, string stderr) compile;
            try
            {
                compile = Exec("gcc", [.. cflags, "-std=gnu11", "-Wall", "-Werror", "-o", binary, source]);
            }
            catch (System.ComponentModel.Win32Exception e)
            {
                throw new InvalidOperationException($"gcc is not installed: install gcc (CI installs it) to check layouts against {what}.", e);
            }

            if (compile.rc != 0)
            {
                throw new InvalidOperationException($"The probe did not compile against {what}:\n{compile.stdout}{compile.stderr}");
            }

            (int rc, string stdout, string stderr) run = Exec(binary, []);
            return run.rc == 0 ? run.stdout : throw new InvalidOperationException("The layout probe failed:\n" + run.stdout + run.stderr);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    /// <summary>Runs a program to completion and returns its exit code and both outputs.</summary>
    /// <param name="file">The program.</param>
    /// <param name="args">Its arguments.</param>
    /// <param name="environment">Variables to set for it, on top of this process's.</param>
    public static (int rc, string stdout, string stderr) Exec(string file, string[] args, IReadOnlyDictionary<string, string>? environment = null)
    {
        var psi = new ProcessStartInfo(file)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (string a in args)
        {
            psi.ArgumentList.Add(a);
        }

        foreach ((string name, string value) in environment ?? new Dictionary<string, string>())
        {
            psi.Environment[name] = value;
        }

        using Process p = Process.Start(psi)!;
        Task<string> stderr = p.StandardError.ReadToEndAsync();
        string stdout = p.StandardOutput.ReadToEnd();
        p.WaitForExit();
        return (p.ExitCode, stdout, stderr.GetAwaiter().GetResult());
    }
}
