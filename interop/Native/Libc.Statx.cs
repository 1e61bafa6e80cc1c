using System.Runtime.InteropServices;

namespace LoopOrder.Interop.Native;

internal static unsafe partial class Libc
{
    // statx (glibc 2.28+) rather than fstat where the caller needs what only statx reports: the
    // O_DIRECT alignment (STATX_DIOALIGN, Linux 6.1+). Its struct is the same on every architecture.
    [LibraryImport(Name, SetLastError = true)]
    internal static partial int statx(int dirfd, byte* path, int flags, uint mask, StatxBuffer* buffer);

    /// <summary>AT_EMPTY_PATH (include/uapi/linux/fcntl.h): with an empty path, statx describes dirfd itself.</summary>
    internal const int AT_EMPTY_PATH = 0x1000;
}
