using System.Runtime.CompilerServices;
using LoopOrder.Interop.Uring;
using LoopOrder.Ublk.Structs;

namespace LoopOrder.Ublk.Protocol;

/// <summary>
/// Fills SQEs with ublk commands: IORING_OP_URING_CMD with the command code in <c>cmd_op</c>
/// (byte 8) and the payload struct at byte 48. Kept apart from the rings so tests can check the
/// bytes of every command.
/// </summary>
public static unsafe class UblkSqe
{
    /// <summary>
    /// A /dev/ublk-control command. The slot must be a 128-byte one (a ring set up with
    /// IORING_SETUP_SQE128): the kernel refuses control commands on 64-byte SQEs, and the
    /// 32-byte payload would not fit in one anyway.
    /// </summary>
    /// <param name="sqe">A zeroed 128-byte slot.</param>
    /// <param name="controlFd">The open /dev/ublk-control.</param>
    /// <param name="command">A <see cref="UblkCommand"/> control code.</param>
    /// <param name="payload">The command header.</param>
    /// <param name="userData">Returned in the CQE.</param>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Control(io_uring_sqe* sqe, int controlFd, uint command, in ublksrv_ctrl_cmd payload, ulong userData) =>
        UringPrep.UringCmd(sqe, controlFd, command, in payload, userData);

    /// <summary>A FETCH_REQ / COMMIT_AND_FETCH_REQ on /dev/ublkcN; fits a 64-byte slot.</summary>
    /// <param name="sqe">A zeroed slot.</param>
    /// <param name="charDeviceFd">The open /dev/ublkcN.</param>
    /// <param name="command"><see cref="UblkCommand.FetchReq"/> or <see cref="UblkCommand.CommitAndFetchReq"/>.</param>
    /// <param name="queueId">The queue.</param>
    /// <param name="tag">The tag.</param>
    /// <param name="result">COMMIT: bytes, 0, or -errno; FETCH: 0.</param>
    /// <param name="buffer">The tag's buffer; the kernel refuses 0.</param>
    /// <param name="userData">Returned in the CQE.</param>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Io(io_uring_sqe* sqe, int charDeviceFd, uint command, ushort queueId, ushort tag, int result, ulong buffer, ulong userData)
    {
        // Written in place rather than copied: this runs once per I/O.
        sqe->opcode = IoUringOp.UringCmd;
        sqe->fd = charDeviceFd;
        sqe->cmd_op = command;
        sqe->user_data = userData;
        var cmd = (ublksrv_io_cmd*)UringPrep.Cmd(sqe);
        cmd->q_id = queueId;
        cmd->tag = tag;
        cmd->result = result;
        cmd->addr = buffer;
    }

    /// <summary>
    /// A UBLK_F_BATCH_IO command on /dev/ublkcN (PREP_IO_CMDS, COMMIT_IO_CMDS): the elements at
    /// <paramref name="elements"/> (<paramref name="count"/> of <paramref name="elementBytes"/>)
    /// are read by the kernel while it handles the command. Fits a 64-byte slot.
    /// </summary>
    /// <param name="sqe">A zeroed slot.</param>
    /// <param name="charDeviceFd">The open /dev/ublkcN.</param>
    /// <param name="command"><see cref="UblkCommand.PrepIoCmds"/> or <see cref="UblkCommand.CommitIoCmds"/>.</param>
    /// <param name="queueId">The queue.</param>
    /// <param name="flags">What the elements carry after their header.</param>
    /// <param name="count">Elements (at most the queue depth).</param>
    /// <param name="elementBytes">Bytes per element, as <paramref name="flags"/> make it.</param>
    /// <param name="elements">The elements; must stay valid until the command's CQE.</param>
    /// <param name="userData">Returned in the CQE.</param>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Batch(io_uring_sqe* sqe, int charDeviceFd, uint command, ushort queueId, UblkBatchFlags flags, ushort count, byte elementBytes, ulong elements, ulong userData)
    {
        sqe->opcode = IoUringOp.UringCmd;
        sqe->fd = charDeviceFd;
        sqe->cmd_op = command;
        sqe->user_data = userData;
        sqe->addr = elements;
        sqe->len = (uint)count * elementBytes;
        var cmd = (ublk_batch_io*)UringPrep.Cmd(sqe);
        cmd->q_id = queueId;
        cmd->flags = (ushort)flags;
        cmd->nr_elem = count;
        cmd->elem_bytes = elementBytes;
    }

    /// <summary>
    /// FETCH_IO_CMDS on /dev/ublkcN: a multishot command; each of its CQEs says how many bytes of
    /// 2-byte tags the kernel wrote into the buffer it took from provided-buffer group
    /// <paramref name="bufferGroup"/>, and it stays armed while the CQE has IORING_CQE_F_MORE.
    /// </summary>
    /// <param name="sqe">A zeroed slot.</param>
    /// <param name="charDeviceFd">The open /dev/ublkcN.</param>
    /// <param name="queueId">The queue.</param>
    /// <param name="bufferGroup">The provided-buffer group the tags go to.</param>
    /// <param name="capacity">Tags one buffer holds.</param>
    /// <param name="userData">Returned in every CQE.</param>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Fetch(io_uring_sqe* sqe, int charDeviceFd, ushort queueId, ushort bufferGroup, ushort capacity, ulong userData)
    {
        sqe->opcode = IoUringOp.UringCmd;
        sqe->fd = charDeviceFd;
        sqe->cmd_op = UblkCommand.FetchIoCmds;
        sqe->user_data = userData;
        sqe->flags = IoSqeFlags.BufferSelect;
        sqe->uring_cmd_flags = UringCmdFlags.Multishot;
        sqe->buf_group = bufferGroup;
        var cmd = (ublk_batch_io*)UringPrep.Cmd(sqe);
        cmd->q_id = queueId;
        cmd->nr_elem = capacity;
        cmd->elem_bytes = sizeof(ushort);
    }
}
