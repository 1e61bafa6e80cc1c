using System.Diagnostics.CodeAnalysis;
using System.Runtime.InteropServices;

namespace LoopOrder.Ublk.Structs;

/// <summary>
/// struct ublksrv_io_cmd (include/uapi/linux/ublk_cmd.h): the 16-byte payload of FETCH_REQ,
/// COMMIT_AND_FETCH_REQ and NEED_GET_DATA on /dev/ublkcN; fits a normal 64-byte SQE.
/// </summary>
[StructLayout(LayoutKind.Explicit, Size = Size)]
[SuppressMessage("Style", "IDE1006:Naming Styles", Justification = "Kernel struct keeps its kernel names.")]
public struct ublksrv_io_cmd
{
    /// <summary>sizeof(struct ublksrv_io_cmd).</summary>
    public const int Size = 16;

    /// <summary>The queue.</summary>
    [FieldOffset(0)] public ushort q_id;

    /// <summary>The tag.</summary>
    [FieldOffset(2)] public ushort tag;

    /// <summary>COMMIT only: bytes done, 0, or -errno.</summary>
    [FieldOffset(4)] public int result;

    /// <summary>The tag's buffer in this process (union with zone_append_lba).</summary>
    [FieldOffset(8)] public ulong addr;
}
