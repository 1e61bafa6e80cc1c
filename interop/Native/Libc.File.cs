using System.Runtime.InteropServices;

namespace LoopOrder.Interop.Native;

internal static unsafe partial class Libc
{
    // open(2) is variadic (mode). On x86-64 the callee only uses %al to decide whether to spill
    // vector registers, and glibc reads mode as an int in the same register a fixed signature
    // uses, so a fixed three-int signature is the documented-safe way runtimes call it.
    [LibraryImport(Name, EntryPoint = "open", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    internal static partial int open(string path, int flags, int mode);

    [LibraryImport(Name, SetLastError = true)]
    internal static partial int close(int fd);

    [LibraryImport(Name, SetLastError = true)]
    internal static partial nint read(int fd, void* buffer, nuint count);

    [LibraryImport(Name, SetLastError = true)]
    internal static partial nint write(int fd, void* buffer, nuint count);

    // off_t is 64-bit on x86-64, so pread/pwrite/ftruncate/fallocate are already the *64 variants.
    [LibraryImport(Name, SetLastError = true)]
    internal static partial nint pread(int fd, void* buffer, nuint count, long offset);

    [LibraryImport(Name, SetLastError = true)]
    internal static partial nint pwrite(int fd, void* buffer, nuint count, long offset);

    [LibraryImport(Name, SetLastError = true)]
    internal static partial int fsync(int fd);

    [LibraryImport(Name, SetLastError = true)]
    internal static partial int fdatasync(int fd);

    [LibraryImport(Name, SetLastError = true)]
    internal static partial int fallocate(int fd, int mode, long offset, long length);

    [LibraryImport(Name, SetLastError = true)]
    internal static partial int ftruncate(int fd, long length);

    [LibraryImport(Name, SetLastError = true)]
    internal static partial int flock(int fd, int operation);

    // fcntl(2) is variadic; an int argument travels in the third integer register either way and
    // glibc's wrapper reads it from there, so a fixed signature is sound on x86-64.
    [LibraryImport(Name, SetLastError = true)]
    internal static partial int fcntl(int fd, int command, int argument);

    [LibraryImport(Name, SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    internal static partial int unlink(string path);

    // ioctl(2) is variadic too; glibc's is an assembly syscall stub, so a fixed pointer argument is sound.
    [LibraryImport(Name, SetLastError = true)]
    internal static partial int ioctl(int fd, nuint request, void* argument);

    // From include/uapi/asm-generic/fcntl.h (x86-64 uses the generic values; octal there).
    internal const int O_RDONLY = 0x0;        // 00
    internal const int O_WRONLY = 0x1;        // 01
    internal const int O_RDWR = 0x2;          // 02
    internal const int O_CREAT = 0x40;        // 0100
    internal const int O_EXCL = 0x80;         // 0200
    internal const int O_TRUNC = 0x200;       // 01000
    internal const int O_NONBLOCK = 0x800;    // 04000
    internal const int O_DSYNC = 0x1000;      // 010000
    internal const int O_DIRECT = 0x4000;     // 040000 (x86 keeps the generic value)
    internal const int O_CLOEXEC = 0x80000;   // 02000000

    // fcntl(2) commands, from include/uapi/asm-generic/fcntl.h.
    internal const int F_GETFL = 3;
    internal const int F_SETFL = 4;

    // flock(2) operations, from include/uapi/asm-generic/fcntl.h.
    internal const int LOCK_SH = 1;
    internal const int LOCK_EX = 2;
    internal const int LOCK_NB = 4;
    internal const int LOCK_UN = 8;

    // BLKGETSIZE64 = _IOR(0x12, 114, size_t) from include/uapi/linux/fs.h: dir read (2) << 30,
    // size 8 << 16, type 0x12 << 8, nr 114 (0x72).
    internal const nuint BLKGETSIZE64 = 0x80081272;
}
