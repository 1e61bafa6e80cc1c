using System.Diagnostics.CodeAnalysis;
using System.Runtime.InteropServices;

namespace LoopOrder.Ublk.Structs;

/// <summary>struct ublk_param_discard (include/uapi/linux/ublk_cmd.h): DISCARD and WRITE_ZEROES limits.</summary>
[StructLayout(LayoutKind.Explicit, Size = Size)]
[SuppressMessage("Style", "IDE1006:Naming Styles", Justification = "Kernel struct keeps its kernel names.")]
public struct ublk_param_discard
{
    /// <summary>sizeof(struct ublk_param_discard).</summary>
    public const int Size = 20;

    /// <summary>Offset of the first aligned discard, in bytes.</summary>
    [FieldOffset(0)] public uint discard_alignment;

    /// <summary>Discard granularity in bytes; must not be 0 when this type is set.</summary>
    [FieldOffset(4)] public uint discard_granularity;

    /// <summary>Largest DISCARD in sectors; 0 disables discard.</summary>
    [FieldOffset(8)] public uint max_discard_sectors;

    /// <summary>Largest WRITE_ZEROES in sectors; 0 disables it.</summary>
    [FieldOffset(12)] public uint max_write_zeroes_sectors;

    /// <summary>Ranges per DISCARD; the driver only supports 1.</summary>
    [FieldOffset(16)] public ushort max_discard_segments;

    /// <summary>Reserved.</summary>
    [FieldOffset(18)] public ushort reserved0;
}
