using System.Runtime.InteropServices;

namespace LoopOrder.Queues.Backends;

/// <summary>
/// The few Linux calls the file backend needs that LoopOrder.Interop does not offer (statx with
/// the direct-I/O alignment, fcntl to drop O_NONBLOCK after the open, unlink to undo a creation,
/// and a pwrite that returns errno instead of throwing, for the inline buffered-write path).
/// Each entry is blittable and source-generated; every caller reads errno on the next line.
/// </summary>
internal static unsafe partial class FileNative
{
    private const string Libc = "libc";

    // ---- fcntl(2) commands, include/uapi/asm-generic/fcntl.h ----
    internal const int F_GETFL = 3;
    internal const int F_SETFL = 4;

    /// <summary>O_NONBLOCK (04000 octal): used only during the open, so a FIFO cannot block it.</summary>
    internal const int O_NONBLOCK = 0x800;

    // ---- statx, include/uapi/linux/fcntl.h and include/uapi/linux/stat.h ----
    private const int AT_EMPTY_PATH = 0x1000;
    internal const uint STATX_TYPE = 0x1;
    internal const uint STATX_SIZE = 0x200;
    internal const uint STATX_BLOCKS = 0x400;
    internal const uint STATX_DIOALIGN = 0x2000;

    // File types in stx_mode (include/uapi/linux/stat.h, octal there).
    internal const int S_IFMT = 0xF000;   // 0170000
    internal const int S_IFREG = 0x8000;  // 0100000
    internal const int S_IFDIR = 0x4000;  // 0040000
    internal const int S_IFBLK = 0x6000;  // 0060000

    // fcntl(2) is variadic; on x86-64 an int argument travels in the third integer register
    // either way and glibc's wrapper reads it from there, so a fixed signature is sound.
    [LibraryImport(Libc, EntryPoint = "fcntl", SetLastError = true)]
    internal static partial int Fcntl(int fd, int command, int argument);

    [LibraryImport(Libc, EntryPoint = "pwrite", SetLastError = true)]
    internal static partial nint Pwrite(int fd, void* buffer, nuint count, long offset);

    [LibraryImport(Libc, EntryPoint = "unlink", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    internal static partial int Unlink(string path);

    // statx (glibc 2.28+) rather than Interop's fstat: its struct is the same on every
    // architecture and it also reports the O_DIRECT alignment (STATX_DIOALIGN, Linux 6.1+).
    [LibraryImport(Libc, EntryPoint = "statx", SetLastError = true)]
    private static partial int Statx(int dirfd, byte* path, int flags, uint mask, StatxBuffer* buffer);

    /// <summary>statx on an open descriptor; returns 0 or a positive errno.</summary>
    internal static int StatxFd(int fd, uint mask, out StatxBuffer result)
    {
        // An empty C string with AT_EMPTY_PATH names the descriptor itself; no marshalling, no allocation.
        byte empty = 0;
        StatxBuffer buffer;
        int rc = Statx(fd, &empty, AT_EMPTY_PATH, mask, &buffer);
        int errno = rc == 0 ? 0 : Marshal.GetLastPInvokeError();
        result = buffer;
        return errno;
    }

    /// <summary>struct statx (include/uapi/linux/stat.h), 256 bytes; only the fields read here are named.</summary>
    [StructLayout(LayoutKind.Explicit, Size = 256)]
    internal struct StatxBuffer
    {
        /// <summary>Which fields the kernel filled.</summary>
        [FieldOffset(0)] public uint Mask;

        /// <summary>File type and permission bits.</summary>
        [FieldOffset(28)] public ushort Mode;

        /// <summary>Size in bytes.</summary>
        [FieldOffset(40)] public ulong Size;

        /// <summary>Allocated 512-byte blocks.</summary>
        [FieldOffset(48)] public ulong Blocks;

        /// <summary>Alignment O_DIRECT needs for user buffers (0: not reported).</summary>
        [FieldOffset(152)] public uint DioMemAlign;

        /// <summary>Alignment O_DIRECT needs for file offsets and lengths (0: not reported, or no O_DIRECT).</summary>
        [FieldOffset(156)] public uint DioOffsetAlign;
    }
}
