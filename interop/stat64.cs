using System.Diagnostics.CodeAnalysis;
using System.Runtime.InteropServices;

namespace LoopOrder.Interop;

/// <summary>
/// struct stat as x86-64 lays it out (arch/x86/include/uapi/asm/stat.h; glibc's struct stat and
/// struct stat64 are the same there): 144 bytes. Only x86-64: arm64 uses the generic, different
/// layout. Named after glibc's stat64 because C# reserves all-lowercase type names like "stat".
/// </summary>
[StructLayout(LayoutKind.Explicit, Size = 144)]
[SuppressMessage("Style", "IDE1006:Naming Styles", Justification = "Kernel struct keeps its kernel name.")]
public struct stat64
{
    /// <summary>Device the file lives on.</summary>
    [FieldOffset(0)] public ulong st_dev;
    /// <summary>Inode number.</summary>
    [FieldOffset(8)] public ulong st_ino;
    /// <summary>Hard link count (64-bit on x86-64, unlike the generic layout).</summary>
    [FieldOffset(16)] public ulong st_nlink;
    /// <summary>File type (S_IFMT bits) and permissions.</summary>
    [FieldOffset(24)] public uint st_mode;
    /// <summary>Owner.</summary>
    [FieldOffset(28)] public uint st_uid;
    /// <summary>Group.</summary>
    [FieldOffset(32)] public uint st_gid;
    /// <summary>Device number, for device files.</summary>
    [FieldOffset(40)] public ulong st_rdev;
    /// <summary>Size in bytes (0 for block devices: ask BLKGETSIZE64).</summary>
    [FieldOffset(48)] public long st_size;
    /// <summary>Preferred I/O size.</summary>
    [FieldOffset(56)] public long st_blksize;
    /// <summary>Allocated 512-byte units: shrinks when a hole is punched.</summary>
    [FieldOffset(64)] public long st_blocks;
    /// <summary>Last access, seconds.</summary>
    [FieldOffset(72)] public long st_atime;
    /// <summary>Last access, nanoseconds.</summary>
    [FieldOffset(80)] public long st_atime_nsec;
    /// <summary>Last modification, seconds.</summary>
    [FieldOffset(88)] public long st_mtime;
    /// <summary>Last modification, nanoseconds.</summary>
    [FieldOffset(96)] public long st_mtime_nsec;
    /// <summary>Last status change, seconds.</summary>
    [FieldOffset(104)] public long st_ctime;
    /// <summary>Last status change, nanoseconds.</summary>
    [FieldOffset(112)] public long st_ctime_nsec;

    // File type bits, from include/uapi/linux/stat.h (octal there: 0170000, 0100000, ...).

    /// <summary>Mask of the file type bits in <see cref="st_mode"/>.</summary>
    public const uint S_IFMT = 0xF000;
    /// <summary>Regular file.</summary>
    public const uint S_IFREG = 0x8000;
    /// <summary>Block device.</summary>
    public const uint S_IFBLK = 0x6000;
    /// <summary>Directory.</summary>
    public const uint S_IFDIR = 0x4000;
    /// <summary>Character device.</summary>
    public const uint S_IFCHR = 0x2000;

    /// <summary>Whether this is a regular file.</summary>
    public readonly bool IsRegularFile => (st_mode & S_IFMT) == S_IFREG;

    /// <summary>Whether this is a block device.</summary>
    public readonly bool IsBlockDevice => (st_mode & S_IFMT) == S_IFBLK;

    /// <summary>Whether this is a directory.</summary>
    public readonly bool IsDirectory => (st_mode & S_IFMT) == S_IFDIR;

    /// <summary>Whether this is a character device.</summary>
    public readonly bool IsCharacterDevice => (st_mode & S_IFMT) == S_IFCHR;
}
