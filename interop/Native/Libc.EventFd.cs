using System.Runtime.InteropServices;

namespace LoopOrder.Interop.Native;

internal static partial class Libc
{
    [LibraryImport(Name, SetLastError = true)]
    internal static partial int eventfd(uint initialValue, int flags);

    // include/uapi/linux/eventfd.h: EFD_CLOEXEC = O_CLOEXEC, EFD_NONBLOCK = O_NONBLOCK.
    internal const int EFD_CLOEXEC = O_CLOEXEC;
    internal const int EFD_NONBLOCK = O_NONBLOCK;
}
