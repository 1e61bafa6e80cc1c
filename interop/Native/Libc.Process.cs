using System.Runtime.InteropServices;

namespace LoopOrder.Interop.Native;

internal static partial class Libc
{
    [LibraryImport(Name)]
    internal static partial uint geteuid();

    [LibraryImport(Name, SetLastError = true)]
    internal static partial int kill(int pid, int sig);
}
