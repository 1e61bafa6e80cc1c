using System.Diagnostics.CodeAnalysis;
using System.Runtime.InteropServices;

namespace LoopOrder.Interop.Uring;

/// <summary>
/// struct io_sqring_offsets: where each SQ ring field sits in the SQ ring mapping, 40 bytes.
/// </summary>
[StructLayout(LayoutKind.Explicit, Size = 40)]
[SuppressMessage("Style", "IDE1006:Naming Styles", Justification = "Kernel struct keeps its kernel names.")]
public struct io_sqring_offsets
{
    /// <summary>Consumer index, written by the kernel.</summary>
    [FieldOffset(0)] public uint head;
    /// <summary>Producer index, written by the application.</summary>
    [FieldOffset(4)] public uint tail;
    /// <summary>entries - 1.</summary>
    [FieldOffset(8)] public uint ring_mask;
    /// <summary>Number of slots.</summary>
    [FieldOffset(12)] public uint ring_entries;
    /// <summary>IORING_SQ_* flags, written by the kernel.</summary>
    [FieldOffset(16)] public uint flags;
    /// <summary>Count of SQEs the kernel dropped as invalid.</summary>
    [FieldOffset(20)] public uint dropped;
    /// <summary>The index array (slot to SQE index).</summary>
    [FieldOffset(24)] public uint array;
    /// <summary>Reserved.</summary>
    [FieldOffset(28)] public uint resv1;
    /// <summary>Reserved (user_addr for IORING_SETUP_NO_MMAP on newer kernels).</summary>
    [FieldOffset(32)] public ulong resv2;
}

/// <summary>
/// struct io_cqring_offsets: where each CQ ring field sits in the CQ ring mapping, 40 bytes.
/// </summary>
[StructLayout(LayoutKind.Explicit, Size = 40)]
[SuppressMessage("Style", "IDE1006:Naming Styles", Justification = "Kernel struct keeps its kernel names.")]
public struct io_cqring_offsets
{
    /// <summary>Consumer index, written by the application.</summary>
    [FieldOffset(0)] public uint head;
    /// <summary>Producer index, written by the kernel.</summary>
    [FieldOffset(4)] public uint tail;
    /// <summary>entries - 1.</summary>
    [FieldOffset(8)] public uint ring_mask;
    /// <summary>Number of slots.</summary>
    [FieldOffset(12)] public uint ring_entries;
    /// <summary>Count of completions lost to overflow (without IORING_FEAT_NODROP).</summary>
    [FieldOffset(16)] public uint overflow;
    /// <summary>The CQE array.</summary>
    [FieldOffset(20)] public uint cqes;
    /// <summary>IORING_CQ_* flags.</summary>
    [FieldOffset(24)] public uint flags;
    /// <summary>Reserved.</summary>
    [FieldOffset(28)] public uint resv1;
    /// <summary>Reserved (user_addr for IORING_SETUP_NO_MMAP on newer kernels).</summary>
    [FieldOffset(32)] public ulong resv2;
}

/// <summary>
/// struct io_uring_params: io_uring_setup's in/out argument, 120 bytes.
/// </summary>
[StructLayout(LayoutKind.Explicit, Size = 120)]
[SuppressMessage("Style", "IDE1006:Naming Styles", Justification = "Kernel struct keeps its kernel names.")]
public unsafe struct io_uring_params
{
    /// <summary>SQ slots (out: rounded up to a power of two).</summary>
    [FieldOffset(0)] public uint sq_entries;
    /// <summary>CQ slots (in with IORING_SETUP_CQSIZE).</summary>
    [FieldOffset(4)] public uint cq_entries;
    /// <summary>IORING_SETUP_* flags.</summary>
    [FieldOffset(8)] public uint flags;
    /// <summary>SQPOLL thread CPU.</summary>
    [FieldOffset(12)] public uint sq_thread_cpu;
    /// <summary>SQPOLL idle time, ms.</summary>
    [FieldOffset(16)] public uint sq_thread_idle;
    /// <summary>IORING_FEAT_* bits (out).</summary>
    [FieldOffset(20)] public uint features;
    /// <summary>Ring whose async workers to share (IORING_SETUP_ATTACH_WQ).</summary>
    [FieldOffset(24)] public uint wq_fd;
    /// <summary>Reserved, must be zero.</summary>
    [FieldOffset(28)] public fixed uint resv[3];
    /// <summary>SQ ring field offsets (out).</summary>
    [FieldOffset(40)] public io_sqring_offsets sq_off;
    /// <summary>CQ ring field offsets (out).</summary>
    [FieldOffset(80)] public io_cqring_offsets cq_off;
}
