using System.Diagnostics.CodeAnalysis;
using System.Runtime.InteropServices;

namespace LoopOrder.Interop.Uring;

/// <summary>
/// struct io_uring_buf_reg (include/uapi/linux/io_uring.h): the argument of
/// IORING_REGISTER_PBUF_RING, 40 bytes: where the ring of provided buffers lives, how many
/// entries it has, and the buffer group it serves.
/// </summary>
[StructLayout(LayoutKind.Explicit, Size = 40)]
[SuppressMessage("Style", "IDE1006:Naming Styles", Justification = "Kernel struct keeps its kernel names.")]
public struct io_uring_buf_reg
{
    /// <summary>The ring's memory: page-aligned, <see cref="ring_entries"/> × 16 bytes.</summary>
    [FieldOffset(0)] public ulong ring_addr;
    /// <summary>Entries, a power of two.</summary>
    [FieldOffset(8)] public uint ring_entries;
    /// <summary>The buffer group id SQEs name in buf_group.</summary>
    [FieldOffset(12)] public ushort bgid;
    /// <summary>IOU_PBUF_RING_* flags (<see cref="IoUringRegister.PbufRingInc"/>).</summary>
    [FieldOffset(14)] public ushort flags;
    /// <summary>Reserved, 0 (three u64 in the header).</summary>
    [FieldOffset(16)] public ulong resv0;
    /// <summary>Reserved, 0.</summary>
    [FieldOffset(24)] public ulong resv1;
    /// <summary>Reserved, 0.</summary>
    [FieldOffset(32)] public ulong resv2;
}
