using System.Runtime.InteropServices;

namespace LoopOrder.Interop.Native;

internal static unsafe partial class Libc
{
    // Syscall numbers from arch/x86/entry/syscalls/syscall_64.tbl. The io_uring calls were added
    // after the per-arch tables were unified, so 425..427 are the same on every architecture;
    // fstat (5) is x86-64 only, and so is the struct stat it fills.
    internal const long SYS_fstat = 5;
    internal const long SYS_io_uring_setup = 425;
    internal const long SYS_io_uring_enter = 426;
    internal const long SYS_io_uring_register = 427;

    // syscall(2) is variadic in C. Calling it with a fixed signature is sound on x86-64 because
    // glibc implements it in assembly (sysdeps/unix/sysv/linux/x86_64/syscall.S): it moves the
    // integer registers into place and never reads %al or a va_list. Returns -1 with errno set.
    [LibraryImport(Name, EntryPoint = "syscall", SetLastError = true)]
    private static partial long syscall2(long number, nint a1, nint a2);

    [LibraryImport(Name, EntryPoint = "syscall", SetLastError = true)]
    private static partial long syscall4(long number, nint a1, nint a2, nint a3, nint a4);

    [LibraryImport(Name, EntryPoint = "syscall", SetLastError = true)]
    private static partial long syscall6(long number, nint a1, nint a2, nint a3, nint a4, nint a5, nint a6);

    /// <summary>io_uring_setup(2): returns the ring fd, or -1 with errno.</summary>
    internal static int io_uring_setup(uint entries, void* p) =>
        (int)syscall2(SYS_io_uring_setup, (nint)entries, (nint)p);

    /// <summary>io_uring_enter(2): returns the number of SQEs consumed, or -1 with errno.</summary>
    internal static int io_uring_enter(int fd, uint toSubmit, uint minComplete, uint flags, void* arg, nuint argSize) =>
        (int)syscall6(SYS_io_uring_enter, fd, (nint)toSubmit, (nint)minComplete, (nint)flags, (nint)arg, (nint)argSize);

    /// <summary>io_uring_register(2): returns an opcode-specific value, or -1 with errno.</summary>
    internal static int io_uring_register(int fd, uint opcode, void* arg, uint nrArgs) =>
        (int)syscall4(SYS_io_uring_register, fd, (nint)opcode, (nint)arg, (nint)nrArgs);

    /// <summary>fstat(2) by number, so no particular glibc version (fstat became a real symbol in 2.33) is needed.</summary>
    internal static int fstat(int fd, void* statBuffer) =>
        (int)syscall2(SYS_fstat, fd, (nint)statBuffer);
}
