using System.Diagnostics.CodeAnalysis;
using System.Runtime.InteropServices;

namespace LoopOrder.Ublk.Structs;

/// <summary>struct ublk_param_zoned (include/uapi/linux/ublk_cmd.h): zoned-device limits (unused by LoopOrder, laid out for the size).</summary>
[StructLayout(LayoutKind.Explicit, Size = Size)]
[SuppressMessage("Style", "IDE1006:Naming Styles", Justification = "Kernel struct keeps its kernel names.")]
public unsafe struct ublk_param_zoned
{
    /// <summary>sizeof(struct ublk_param_zoned).</summary>
    public const int Size = 32;

    /// <summary>Open zones limit.</summary>
    [FieldOffset(0)] public uint max_open_zones;

    /// <summary>Active zones limit.</summary>
    [FieldOffset(4)] public uint max_active_zones;

    /// <summary>Largest ZONE_APPEND in sectors.</summary>
    [FieldOffset(8)] public uint max_zone_append_sectors;

    /// <summary>Reserved.</summary>
    [FieldOffset(12)] public fixed byte reserved[20];
}
