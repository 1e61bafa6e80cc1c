using System.Diagnostics.CodeAnalysis;
using System.Runtime.InteropServices;

namespace LoopOrder.Ublk.Structs;

/// <summary>
/// struct ublksrv_ctrl_dev_info (include/uapi/linux/ublk_cmd.h): what ADD_DEV asks for and what
/// the kernel writes back (the chosen id, the negotiated flags, the queue count, the buffer size).
/// </summary>
[StructLayout(LayoutKind.Explicit, Size = Size)]
[SuppressMessage("Style", "IDE1006:Naming Styles", Justification = "Kernel struct keeps its kernel names.")]
public struct ublksrv_ctrl_dev_info
{
    /// <summary>sizeof(struct ublksrv_ctrl_dev_info).</summary>
    public const int Size = 64;

    /// <summary>Hardware queues; the kernel caps it at the CPU count.</summary>
    [FieldOffset(0)] public ushort nr_hw_queues;

    /// <summary>Tags per queue, 1..4096.</summary>
    [FieldOffset(2)] public ushort queue_depth;

    /// <summary>UBLK_S_DEV_* (<see cref="Protocol.UblkDeviceState"/>).</summary>
    [FieldOffset(4)] public ushort state;

    /// <summary>Padding.</summary>
    [FieldOffset(6)] public ushort pad0;

    /// <summary>Largest request in bytes; the kernel rounds it down to a page.</summary>
    [FieldOffset(8)] public uint max_io_buf_bytes;

    /// <summary>Device number N of /dev/ublkcN and /dev/ublkbN; 0xFFFFFFFF in ADD_DEV lets the kernel choose.</summary>
    [FieldOffset(12)] public uint dev_id;

    /// <summary>The server's pid, set by START_DEV; -1 when none.</summary>
    [FieldOffset(16)] public int ublksrv_pid;

    /// <summary>Padding.</summary>
    [FieldOffset(20)] public uint pad1;

    /// <summary>UBLK_F_* (<see cref="Protocol.UblkFeatures"/>): requested in ADD_DEV, negotiated on return.</summary>
    [FieldOffset(24)] public ulong flags;

    /// <summary>For the server's own use; the kernel keeps it and never reads it.</summary>
    [FieldOffset(32)] public ulong ublksrv_flags;

    /// <summary>Owner uid, stored by the kernel.</summary>
    [FieldOffset(40)] public uint owner_uid;

    /// <summary>Owner gid, stored by the kernel.</summary>
    [FieldOffset(44)] public uint owner_gid;

    /// <summary>Reserved.</summary>
    [FieldOffset(48)] public ulong reserved1;

    /// <summary>Reserved.</summary>
    [FieldOffset(56)] public ulong reserved2;
}
