using System.Diagnostics.CodeAnalysis;
using System.Runtime.InteropServices;

namespace LoopOrder.Ublk.Structs;

/// <summary>
/// struct ublk_param_devt (include/uapi/linux/ublk_cmd.h): the char and block device numbers.
/// Read-only: GET_PARAMS fills it (the disk numbers once started); SET_PARAMS refuses it.
/// </summary>
[StructLayout(LayoutKind.Explicit, Size = Size)]
[SuppressMessage("Style", "IDE1006:Naming Styles", Justification = "Kernel struct keeps its kernel names.")]
public struct ublk_param_devt
{
    /// <summary>sizeof(struct ublk_param_devt).</summary>
    public const int Size = 16;

    /// <summary>/dev/ublkcN major.</summary>
    [FieldOffset(0)] public uint char_major;

    /// <summary>/dev/ublkcN minor.</summary>
    [FieldOffset(4)] public uint char_minor;

    /// <summary>/dev/ublkbN major, 0 before START_DEV.</summary>
    [FieldOffset(8)] public uint disk_major;

    /// <summary>/dev/ublkbN minor.</summary>
    [FieldOffset(12)] public uint disk_minor;
}
