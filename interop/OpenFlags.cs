using LoopOrder.Interop.Native;

namespace LoopOrder.Interop;

/// <summary>open(2) flags, with the kernel's values (include/uapi/asm-generic/fcntl.h).</summary>
/// <remarks><see cref="FileDescriptor.Open"/> always adds O_CLOEXEC.</remarks>
[Flags]
public enum OpenFlags
{
    /// <summary>O_RDONLY (0): read only.</summary>
    ReadOnly = Libc.O_RDONLY,
    /// <summary>O_WRONLY.</summary>
    WriteOnly = Libc.O_WRONLY,
    /// <summary>O_RDWR.</summary>
    ReadWrite = Libc.O_RDWR,
    /// <summary>O_CREAT: create the file if missing, with the given mode.</summary>
    Create = Libc.O_CREAT,
    /// <summary>O_EXCL: with <see cref="Create"/>, fail with EEXIST if it exists.</summary>
    Exclusive = Libc.O_EXCL,
    /// <summary>O_TRUNC.</summary>
    Truncate = Libc.O_TRUNC,
    /// <summary>O_NONBLOCK.</summary>
    NonBlocking = Libc.O_NONBLOCK,
    /// <summary>O_DSYNC: every write is durable before it returns.</summary>
    DataSync = Libc.O_DSYNC,
    /// <summary>O_DIRECT: bypass the page cache; buffers, offsets and lengths must be block aligned.</summary>
    Direct = Libc.O_DIRECT,
}
