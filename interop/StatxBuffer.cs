using System.Runtime.InteropServices;

namespace LoopOrder.Interop;

/// <summary>
/// struct statx (include/uapi/linux/stat.h), 256 bytes, the same on every architecture; only the
/// fields LoopOrder reads are named. Filled by <see cref="FileDescriptor.TryStatx"/>.
/// </summary>
[StructLayout(LayoutKind.Explicit, Size = 256)]
public struct StatxBuffer
{
    /// <summary>STATX_TYPE: stx_mode's file type bits are valid.</summary>
    public const uint STATX_TYPE = 0x1;

    /// <summary>STATX_SIZE: stx_size is valid.</summary>
    public const uint STATX_SIZE = 0x200;

    /// <summary>STATX_BLOCKS: stx_blocks is valid.</summary>
    public const uint STATX_BLOCKS = 0x400;

    /// <summary>STATX_DIOALIGN (Linux 6.1+): the O_DIRECT alignments are valid.</summary>
    public const uint STATX_DIOALIGN = 0x2000;

    /// <summary>stx_mask: which fields the kernel filled.</summary>
    [FieldOffset(0)] public uint Mask;

    /// <summary>stx_mode: file type (<see cref="stat64.S_IFMT"/> bits) and permissions.</summary>
    [FieldOffset(28)] public ushort Mode;

    /// <summary>stx_size: size in bytes.</summary>
    [FieldOffset(40)] public ulong Size;

    /// <summary>stx_blocks: allocated 512-byte blocks.</summary>
    [FieldOffset(48)] public ulong Blocks;

    /// <summary>stx_dio_mem_align: alignment O_DIRECT needs for user buffers (0: not reported).</summary>
    [FieldOffset(152)] public uint DioMemAlign;

    /// <summary>stx_dio_offset_align: alignment O_DIRECT needs for offsets and lengths (0: not reported, or no O_DIRECT).</summary>
    [FieldOffset(156)] public uint DioOffsetAlign;
}
