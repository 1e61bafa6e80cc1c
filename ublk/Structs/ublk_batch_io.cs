using System.Diagnostics.CodeAnalysis;
using System.Runtime.InteropServices;

namespace LoopOrder.Ublk.Structs;

/// <summary>
/// struct ublk_batch_io (include/uapi/linux/ublk_cmd.h, 7.0+): the 16-byte payload of the
/// UBLK_F_BATCH_IO commands PREP_IO_CMDS, COMMIT_IO_CMDS and FETCH_IO_CMDS. For PREP and COMMIT
/// sqe->addr points at <see cref="nr_elem"/> elements of <see cref="elem_bytes"/> each (a
/// <see cref="ublk_elem_header"/>, then the buffer address when <see cref="Protocol.UblkBatchFlags.HasBufAddr"/>);
/// FETCH's elements are the 2-byte tags the kernel writes into a provided buffer.
/// </summary>
[StructLayout(LayoutKind.Explicit, Size = Size)]
[SuppressMessage("Style", "IDE1006:Naming Styles", Justification = "Kernel struct keeps its kernel names.")]
public struct ublk_batch_io
{
    /// <summary>sizeof(struct ublk_batch_io).</summary>
    public const int Size = 16;

    /// <summary>The queue.</summary>
    [FieldOffset(0)] public ushort q_id;

    /// <summary>UBLK_BATCH_F_* (<see cref="Protocol.UblkBatchFlags"/>); 0 for FETCH.</summary>
    [FieldOffset(2)] public ushort flags;

    /// <summary>Elements in the buffer (at most the queue depth).</summary>
    [FieldOffset(4)] public ushort nr_elem;

    /// <summary>Bytes per element: 8, or 16 with a buffer address; 2 for FETCH.</summary>
    [FieldOffset(6)] public byte elem_bytes;

    /// <summary>Reserved, 0.</summary>
    [FieldOffset(7)] public byte reserved;

    /// <summary>Reserved, 0.</summary>
    [FieldOffset(8)] public ulong reserved2;
}
