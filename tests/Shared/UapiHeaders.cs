using System.Collections.Concurrent;
using System.Runtime.CompilerServices;

namespace LoopOrder.Tests.Shared;

/// <summary>
/// The UAPI headers (linux-libc-dev) of the kernels the VM suite runs on, fetched and unpacked by
/// tests/vm/fetch-headers.sh into the VM cache, one dir per kernel. The layout tests compile their
/// probes against each, so a struct or a number that differs between the kernels LoopOrder
/// supports shows up on the host, before any VM boots.
/// </summary>
internal static class UapiHeaders
{
    /// <summary>The kernels (VM_KERNEL values of tests/vm), oldest first: tests/vm/lib.sh's VM_KERNELS.</summary>
    public static readonly IReadOnlyList<string> Kernels = ["6.12", "7.3"];

    private static readonly ConcurrentDictionary<string, Lazy<string[]>> Flags = new(StringComparer.Ordinal);

    /// <summary>The repository root, from this file's compile-time path (test outputs may live outside the tree).</summary>
    /// <param name="here">Filled in by the compiler.</param>
    public static string RepositoryRoot([CallerFilePath] string here = "") =>
        Path.GetFullPath(Path.Combine(Path.GetDirectoryName(here)!, "..", ".."));

    /// <summary>The gcc flags that put <paramref name="kernel"/>'s headers ahead of the host's (fetched once a process).</summary>
    /// <param name="kernel">One of <see cref="Kernels"/>.</param>
    /// <exception cref="InvalidOperationException">The headers could not be fetched.</exception>
    public static string[] CFlags(string kernel) =>
        Flags.GetOrAdd(kernel, k => new Lazy<string[]>(() => Fetch(k))).Value;

    private static string[] Fetch(string kernel)
    {
        string script = Path.Combine(RepositoryRoot(), "tests", "vm", "fetch-headers.sh");
        (int rc, string stdout, string stderr) = CProbe.Exec("bash", [script, "--cflags"], new Dictionary<string, string> { ["VM_KERNEL"] = kernel });
        if (rc != 0)
        {
            throw new InvalidOperationException($"{script} could not provide the {kernel} linux-libc-dev headers (needs apt-get, dpkg-deb and the Debian mirror):\n{stderr}");
        }

        return stdout.Trim().Split('\n')[^1].Split(' ', StringSplitOptions.RemoveEmptyEntries);
    }
}
