using System.Diagnostics.CodeAnalysis;
using System.Runtime.InteropServices;

namespace LoopOrder.Ublk.Structs;

/// <summary>
/// struct ublk_params as the 6.12 header (the VM's kernel, bookworm-backports) lays it out: a
/// header (<see cref="len"/>, <see cref="types"/>) and one member per UBLK_PARAM_TYPE_*. Newer
/// kernels append members (dma, seg, ...) after <see cref="zoned"/>; <see cref="len"/> tells
/// each side how much the other knows, so this layout works on them too.
/// </summary>
[StructLayout(LayoutKind.Explicit, Size = Size)]
[SuppressMessage("Style", "IDE1006:Naming Styles", Justification = "Kernel struct keeps its kernel names.")]
public struct ublk_params
{
    /// <summary>sizeof(struct ublk_params) in 6.12: 108 bytes of members padded to the 8-byte alignment of the __u64s inside.</summary>
    public const int Size = 112;

    /// <summary>Bytes of this struct the sender filled (SET_PARAMS) or wants back (GET_PARAMS); the kernel caps it at its own size.</summary>
    [FieldOffset(0)] public uint len;

    /// <summary>UBLK_PARAM_TYPE_* (<see cref="Protocol.UblkParamTypes"/>) present.</summary>
    [FieldOffset(4)] public uint types;

    /// <summary>UBLK_PARAM_TYPE_BASIC.</summary>
    [FieldOffset(8)] public ublk_param_basic basic;

    /// <summary>UBLK_PARAM_TYPE_DISCARD.</summary>
    [FieldOffset(40)] public ublk_param_discard discard;

    /// <summary>UBLK_PARAM_TYPE_DEVT (read-only).</summary>
    [FieldOffset(60)] public ublk_param_devt devt;

    /// <summary>UBLK_PARAM_TYPE_ZONED.</summary>
    [FieldOffset(76)] public ublk_param_zoned zoned;
}
