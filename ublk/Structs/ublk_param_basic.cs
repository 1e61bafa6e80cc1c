using System.Diagnostics.CodeAnalysis;
using System.Runtime.InteropServices;

namespace LoopOrder.Ublk.Structs;

/// <summary>struct ublk_param_basic (include/uapi/linux/ublk_cmd.h): the parameters every device must set.</summary>
[StructLayout(LayoutKind.Explicit, Size = Size)]
[SuppressMessage("Style", "IDE1006:Naming Styles", Justification = "Kernel struct keeps its kernel names.")]
public struct ublk_param_basic
{
    /// <summary>sizeof(struct ublk_param_basic).</summary>
    public const int Size = 32;

    /// <summary>UBLK_ATTR_* (<see cref="Protocol.UblkAttributes"/>).</summary>
    [FieldOffset(0)] public uint attrs;

    /// <summary>log2 of the logical block size, 9..12 (the kernel caps it at PAGE_SHIFT).</summary>
    [FieldOffset(4)] public byte logical_bs_shift;

    /// <summary>log2 of the physical block size, at least <see cref="logical_bs_shift"/>.</summary>
    [FieldOffset(5)] public byte physical_bs_shift;

    /// <summary>log2 of the optimal I/O size.</summary>
    [FieldOffset(6)] public byte io_opt_shift;

    /// <summary>log2 of the minimum I/O size.</summary>
    [FieldOffset(7)] public byte io_min_shift;

    /// <summary>Largest request in sectors; at most max_io_buf_bytes / 512.</summary>
    [FieldOffset(8)] public uint max_sectors;

    /// <summary>Boundary no request crosses, in sectors; 0 for none (zone size on zoned devices).</summary>
    [FieldOffset(12)] public uint chunk_sectors;

    /// <summary>Capacity in sectors.</summary>
    [FieldOffset(16)] public ulong dev_sectors;

    /// <summary>Segment boundary mask; 0 for none.</summary>
    [FieldOffset(24)] public ulong virt_boundary_mask;
}
