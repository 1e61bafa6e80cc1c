using System.Diagnostics.CodeAnalysis;
using System.Runtime.InteropServices;

namespace LoopOrder.Interop.Uring;

/// <summary>
/// struct io_uring_sqe (include/uapi/linux/io_uring.h): one submission, 64 bytes. On a ring set
/// up with <see cref="IoUringSetupFlags.Sqe128"/> each slot is 128 bytes and the command area
/// that starts at <see cref="addr3"/> (byte 48) grows from 16 to 80 bytes.
/// </summary>
/// <remarks>
/// Unions keep every member name the kernel gives them, so a field can be looked up in the
/// header by name. Fields the project does not use are still laid out, so the size is exact.
/// </remarks>
[StructLayout(LayoutKind.Explicit, Size = 64)]
[SuppressMessage("Style", "IDE1006:Naming Styles", Justification = "Kernel struct keeps its kernel names.")]
public struct io_uring_sqe
{
    /// <summary>The operation (<see cref="IoUringOp"/>).</summary>
    [FieldOffset(0)] public byte opcode;
    /// <summary>IOSQE_* flags (<see cref="IoSqeFlags"/>).</summary>
    [FieldOffset(1)] public byte flags;
    /// <summary>I/O priority.</summary>
    [FieldOffset(2)] public ushort ioprio;
    /// <summary>The file descriptor the operation acts on.</summary>
    [FieldOffset(4)] public int fd;
    /// <summary>File offset (union with <see cref="addr2"/> and <see cref="cmd_op"/>).</summary>
    [FieldOffset(8)] public ulong off;
    /// <summary>Second address (union with <see cref="off"/>).</summary>
    [FieldOffset(8)] public ulong addr2;
    /// <summary>IORING_OP_URING_CMD command code (union with <see cref="off"/>'s low half).</summary>
    [FieldOffset(8)] public uint cmd_op;
    /// <summary>Must be zero for URING_CMD.</summary>
    [FieldOffset(12)] public uint __pad1;
    /// <summary>Buffer address (union with <see cref="splice_off_in"/>).</summary>
    [FieldOffset(16)] public ulong addr;
    /// <summary>Splice input offset (union with <see cref="addr"/>).</summary>
    [FieldOffset(16)] public ulong splice_off_in;
    /// <summary>Buffer length, or an op-specific count (fallocate: the mode).</summary>
    [FieldOffset(24)] public uint len;
    /// <summary>RWF_* flags for READ/WRITE (union of the op flags at byte 28).</summary>
    [FieldOffset(28)] public uint rw_flags;
    /// <summary>IORING_FSYNC_* flags.</summary>
    [FieldOffset(28)] public uint fsync_flags;
    /// <summary>Poll mask for POLL_ADD (32-bit form).</summary>
    [FieldOffset(28)] public uint poll32_events;
    /// <summary>MSG_RING flags.</summary>
    [FieldOffset(28)] public uint msg_ring_flags;
    /// <summary>TIMEOUT flags.</summary>
    [FieldOffset(28)] public uint timeout_flags;
    /// <summary>ASYNC_CANCEL flags.</summary>
    [FieldOffset(28)] public uint cancel_flags;
    /// <summary>URING_CMD flags (IORING_URING_CMD_FIXED).</summary>
    [FieldOffset(28)] public uint uring_cmd_flags;
    /// <summary>Opaque value returned in the CQE.</summary>
    [FieldOffset(32)] public ulong user_data;
    /// <summary>Index into registered buffers (union with <see cref="buf_group"/>).</summary>
    [FieldOffset(40)] public ushort buf_index;
    /// <summary>Buffer group for provided buffers.</summary>
    [FieldOffset(40)] public ushort buf_group;
    /// <summary>Registered personality.</summary>
    [FieldOffset(42)] public ushort personality;
    /// <summary>Splice input fd (union with <see cref="file_index"/>).</summary>
    [FieldOffset(44)] public int splice_fd_in;
    /// <summary>Direct descriptor slot.</summary>
    [FieldOffset(44)] public uint file_index;
    /// <summary>Socket address length (union at byte 44).</summary>
    [FieldOffset(44)] public ushort addr_len;
    /// <summary>Third address; also where the URING_CMD payload (<c>cmd[]</c>) begins.</summary>
    [FieldOffset(48)] public ulong addr3;
    /// <summary>Padding; the second 8 bytes of a 16-byte URING_CMD payload.</summary>
    [FieldOffset(56)] public ulong __pad2;

    /// <summary>Byte offset of <c>cmd[]</c>, the URING_CMD payload.</summary>
    public const int CmdOffset = 48;

    /// <summary>Payload room in a 64-byte SQE (bytes 48..63).</summary>
    public const int CmdSize = 16;

    /// <summary>Payload room in a 128-byte SQE (bytes 48..127).</summary>
    public const int CmdSize128 = 80;
}
