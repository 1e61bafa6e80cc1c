using System.Runtime.InteropServices;

namespace LoopOrder.Interop.Native;

internal static unsafe partial class Libc
{
    [LibraryImport(Name, SetLastError = true)]
    internal static partial void* mmap(void* address, nuint length, int protection, int flags, int fd, long offset);

    [LibraryImport(Name, SetLastError = true)]
    internal static partial int munmap(void* address, nuint length);

    // mmap returns (void*)-1 on failure (include/uapi/asm-generic/mman-common.h: MAP_FAILED).
    internal static readonly nint MAP_FAILED = -1;

    // include/uapi/asm-generic/mman-common.h and mman.h (x86-64 uses the generic values).
    internal const int PROT_READ = 0x1;
    internal const int PROT_WRITE = 0x2;
    internal const int MAP_SHARED = 0x01;
    internal const int MAP_PRIVATE = 0x02;
    internal const int MAP_ANONYMOUS = 0x20;
    internal const int MAP_POPULATE = 0x8000;
}
