using System.Diagnostics.CodeAnalysis;
using System.Runtime.InteropServices;

namespace LoopOrder.Ublk.Structs;

/// <summary>
/// struct ublk_elem_header (include/uapi/linux/ublk_cmd.h, 7.0+): the 8 bytes every element of
/// a PREP_IO_CMDS or COMMIT_IO_CMDS buffer starts with.
/// </summary>
[StructLayout(LayoutKind.Explicit, Size = Size)]
[SuppressMessage("Style", "IDE1006:Naming Styles", Justification = "Kernel struct keeps its kernel names.")]
public struct ublk_elem_header
{
    /// <summary>sizeof(struct ublk_elem_header).</summary>
    public const int Size = 8;

    /// <summary>The tag.</summary>
    [FieldOffset(0)] public ushort tag;

    /// <summary>With UBLK_F_AUTO_BUF_REG: the ring slot the tag's next request's pages go in.</summary>
    [FieldOffset(2)] public ushort buf_index;

    /// <summary>COMMIT: bytes done, 0, or -errno; PREP: 0.</summary>
    [FieldOffset(4)] public int result;
}
