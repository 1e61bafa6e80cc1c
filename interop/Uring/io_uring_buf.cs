using System.Diagnostics.CodeAnalysis;
using System.Runtime.InteropServices;

namespace LoopOrder.Interop.Uring;

/// <summary>
/// struct io_uring_buf (include/uapi/linux/io_uring.h): one entry of a provided-buffer ring, 16
/// bytes. In the ring's first entry <see cref="resv"/> is the ring's tail (struct
/// io_uring_buf_ring overlays it), which the application advances to publish entries.
/// </summary>
[StructLayout(LayoutKind.Explicit, Size = 16)]
[SuppressMessage("Style", "IDE1006:Naming Styles", Justification = "Kernel struct keeps its kernel names.")]
public struct io_uring_buf
{
    /// <summary>The buffer's address.</summary>
    [FieldOffset(0)] public ulong addr;
    /// <summary>Its length in bytes.</summary>
    [FieldOffset(8)] public uint len;
    /// <summary>The buffer id CQEs report.</summary>
    [FieldOffset(12)] public ushort bid;
    /// <summary>Reserved; in entry 0, the ring's tail.</summary>
    [FieldOffset(14)] public ushort resv;
}
