using System.Runtime.InteropServices;

namespace LoopOrder.Interop.Native;

internal static partial class Libc
{
    // include/uapi/linux/prctl.h (Linux 5.6+).
    internal const int PR_SET_IO_FLUSHER = 57;
    internal const int PR_GET_IO_FLUSHER = 58;

    // prctl(2) is variadic in C; glibc's wrapper reads its four optional arguments as unsigned
    // longs from the va_list, which on the Linux ABIs this project runs on (x86-64, arm64) are
    // the same registers a fixed five-argument call fills.
    [LibraryImport(Name, SetLastError = true)]
    internal static partial int prctl(int option, nuint arg2, nuint arg3, nuint arg4, nuint arg5);
}
