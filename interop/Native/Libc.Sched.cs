using System.Runtime.InteropServices;

namespace LoopOrder.Interop.Native;

internal static unsafe partial class Libc
{
    // cpu_set_t is a bit array of unsigned longs; the size is passed in bytes, so the caller may
    // use a larger set than glibc's 1024-bit default on machines with more CPUs.
    [LibraryImport(Name, SetLastError = true)]
    internal static partial int sched_setaffinity(int pid, nuint cpuSetSize, ulong* mask);

    [LibraryImport(Name, SetLastError = true)]
    internal static partial int sched_getaffinity(int pid, nuint cpuSetSize, ulong* mask);

    [LibraryImport(Name, SetLastError = true)]
    internal static partial int sched_getcpu();
}
