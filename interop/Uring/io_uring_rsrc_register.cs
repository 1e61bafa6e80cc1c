using System.Diagnostics.CodeAnalysis;
using System.Runtime.InteropServices;

namespace LoopOrder.Interop.Uring;

/// <summary>struct io_uring_rsrc_register (include/uapi/linux/io_uring.h): a resource table for IORING_REGISTER_BUFFERS2, 32 bytes.</summary>
[StructLayout(LayoutKind.Explicit, Size = 32)]
[SuppressMessage("Style", "IDE1006:Naming Styles", Justification = "Kernel struct keeps its kernel names.")]
public struct io_uring_rsrc_register
{
    /// <summary>Slots in the table.</summary>
    [FieldOffset(0)] public uint nr;
    /// <summary><see cref="IoUringRegister.RsrcRegisterSparse"/> or 0.</summary>
    [FieldOffset(4)] public uint flags;
    /// <summary>Reserved, 0.</summary>
    [FieldOffset(8)] public ulong resv2;
    /// <summary>An iovec array (0 when sparse).</summary>
    [FieldOffset(16)] public ulong data;
    /// <summary>A u64 tag per slot (0: none).</summary>
    [FieldOffset(24)] public ulong tags;
}
