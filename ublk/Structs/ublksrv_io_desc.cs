using System.Diagnostics.CodeAnalysis;
using System.Runtime.InteropServices;

namespace LoopOrder.Ublk.Structs;

/// <summary>
/// struct ublksrv_io_desc (include/uapi/linux/ublk_cmd.h): one request as the kernel describes it
/// in the queue's read-only shared descriptor array, indexed by tag.
/// </summary>
[StructLayout(LayoutKind.Explicit, Size = Size)]
[SuppressMessage("Style", "IDE1006:Naming Styles", Justification = "Kernel struct keeps its kernel names.")]
public struct ublksrv_io_desc
{
    /// <summary>sizeof(struct ublksrv_io_desc).</summary>
    public const int Size = 24;

    /// <summary>The op in bits 0-7 (UBLK_IO_OP_*), UBLK_IO_F_* flags above, unshifted.</summary>
    [FieldOffset(0)] public uint op_flags;

    /// <summary>Sectors (512 bytes each); nr_zones for REPORT_ZONES (a union in the header).</summary>
    [FieldOffset(4)] public uint nr_sectors;

    /// <summary>First sector.</summary>
    [FieldOffset(8)] public ulong start_sector;

    /// <summary>The buffer address the server gave for this tag.</summary>
    [FieldOffset(16)] public ulong addr;

    /// <summary>The op: ublksrv_get_op() in the header.</summary>
    public readonly byte Op => (byte)(op_flags & 0xFF);

    /// <summary>The UBLK_IO_F_* bits in place (not shifted down, unlike ublksrv_get_flags()).</summary>
    public readonly uint Flags => op_flags & ~0xFFu;
}
