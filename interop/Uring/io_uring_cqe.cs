using System.Diagnostics.CodeAnalysis;
using System.Runtime.InteropServices;

namespace LoopOrder.Interop.Uring;

/// <summary>
/// struct io_uring_cqe (include/uapi/linux/io_uring.h): one completion, 16 bytes (32 on a
/// <see cref="IoUringSetupFlags.Cqe32"/> ring; this is its first half).
/// </summary>
[StructLayout(LayoutKind.Explicit, Size = 16)]
[SuppressMessage("Style", "IDE1006:Naming Styles", Justification = "Kernel struct keeps its kernel names.")]
public struct io_uring_cqe
{
    /// <summary>The SQE's <see cref="io_uring_sqe.user_data"/>.</summary>
    [FieldOffset(0)] public ulong user_data;
    /// <summary>The result: bytes or 0 on success, -errno on failure.</summary>
    [FieldOffset(8)] public int res;
    /// <summary>IORING_CQE_F_* flags.</summary>
    [FieldOffset(12)] public uint flags;
}
