using System.Runtime.InteropServices;

namespace LoopOrder.Interop.Native;

internal static partial class Libc
{
    // ioctl(2) with an integer argument: FICLONE takes the source descriptor itself, not a pointer
    // to it. glibc's ioctl is an assembly syscall stub, so a fixed signature is sound on x86-64.
    [LibraryImport(Name, EntryPoint = "ioctl", SetLastError = true)]
    internal static partial int ioctl_int(int fd, nuint request, nint argument);

    // FICLONE = _IOW(0x94, 9, int) from include/uapi/linux/fs.h: dir write (1) << 30, size 4 << 16,
    // type 0x94 << 8, nr 9.
    internal const nuint FICLONE = 0x40049409;
}
