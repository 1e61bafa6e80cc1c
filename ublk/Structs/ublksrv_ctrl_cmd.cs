using System.Diagnostics.CodeAnalysis;
using System.Runtime.InteropServices;

namespace LoopOrder.Ublk.Structs;

/// <summary>
/// struct ublksrv_ctrl_cmd (include/uapi/linux/ublk_cmd.h): the 32-byte payload of every
/// /dev/ublk-control command, carried in the SQE's <c>cmd</c> area (byte 48 of a 128-byte SQE).
/// </summary>
[StructLayout(LayoutKind.Explicit, Size = Size)]
[SuppressMessage("Style", "IDE1006:Naming Styles", Justification = "Kernel struct keeps its kernel names.")]
public struct ublksrv_ctrl_cmd
{
    /// <summary>sizeof(struct ublksrv_ctrl_cmd).</summary>
    public const int Size = 32;

    /// <summary>The queue_id device-wide commands carry: (__u16)-1, which ADD_DEV insists on.</summary>
    public const ushort NoQueue = 0xFFFF;

    /// <summary>The device the command is for (ADD_DEV: the same value as the dev_info's dev_id).</summary>
    [FieldOffset(0)] public uint dev_id;

    /// <summary>The queue, or <see cref="NoQueue"/> for device commands.</summary>
    [FieldOffset(4)] public ushort queue_id;

    /// <summary>Bytes at <see cref="addr"/>.</summary>
    [FieldOffset(6)] public ushort len;

    /// <summary>The command's in/out buffer in this process.</summary>
    [FieldOffset(8)] public ulong addr;

    /// <summary>data[0]: inline argument (START_DEV / END_USER_RECOVERY: the server pid; GET_QUEUE_AFFINITY: the queue).</summary>
    [FieldOffset(16)] public ulong data;

    /// <summary>Unprivileged devices and GET_DEV_INFO2 only: length of the char device path at the start of <see cref="addr"/>.</summary>
    [FieldOffset(24)] public ushort dev_path_len;

    /// <summary>Padding.</summary>
    [FieldOffset(26)] public ushort pad;

    /// <summary>Reserved, zero.</summary>
    [FieldOffset(28)] public uint reserved;
}
