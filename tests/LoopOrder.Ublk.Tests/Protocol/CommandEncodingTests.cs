using System.Buffers.Binary;
using LoopOrder.Interop.Uring;
using LoopOrder.Ublk.Control;
using LoopOrder.Ublk.Protocol;
using LoopOrder.Ublk.Structs;

namespace LoopOrder.Ublk.Tests.Protocol;

/// <summary>
/// The bytes of the SQE each command goes out in: IORING_OP_URING_CMD (46) at 0, the fd at 4,
/// cmd_op at 8 with a zero pad at 12, user_data at 32, and the payload at byte 48; everything
/// else zero.
/// </summary>
public unsafe class CommandEncodingTests
{
    private const int ControlFd = 7;
    private const int CharFd = 9;
    private const uint Dev = 3;
    private const ulong Buffer = 0x7f00_1234_5000;

    public static TheoryData<string, uint, ushort, ulong, ulong> ControlCommands => new()
    {
        // name, code, len, addr, data[0]
        { "GET_FEATURES", UblkCommand.GetFeatures, 8, Buffer, 0 },
        { "ADD_DEV", UblkCommand.AddDev, 64, Buffer, 0 },
        { "SET_PARAMS", UblkCommand.SetParams, 112, Buffer, 0 },
        { "GET_PARAMS", UblkCommand.GetParams, 112, Buffer, 0 },
        { "GET_DEV_INFO", UblkCommand.GetDevInfo, 64, Buffer, 0 },
        { "GET_QUEUE_AFFINITY", UblkCommand.GetQueueAffinity, 128, Buffer, 1 },
        { "START_DEV", UblkCommand.StartDev, 0, 0, 4242 },
        { "STOP_DEV", UblkCommand.StopDev, 0, 0, 0 },
        { "DEL_DEV", UblkCommand.DelDev, 0, 0, 0 },
        { "DEL_DEV_ASYNC", UblkCommand.DelDevAsync, 0, 0, 0 },
        { "START_USER_RECOVERY", UblkCommand.StartUserRecovery, 0, 0, 0 },
        { "END_USER_RECOVERY", UblkCommand.EndUserRecovery, 0, 0, 4242 },
        { "UPDATE_SIZE", UblkCommand.UpdateSize, 0, 0, (3UL << 30) >> 9 },
        { "QUIESCE_DEV", UblkCommand.QuiesceDev, 0, 0, 2500 },
        { "TRY_STOP_DEV", UblkCommand.TryStopDev, 0, 0, 0 },
    };

    [Theory]
    [MemberData(nameof(ControlCommands))]
    public void ControlCommandSqe(string name, uint code, ushort len, ulong addr, ulong data)
    {
        ublksrv_ctrl_cmd cmd = name switch
        {
            "GET_FEATURES" => UblkControlCommands.GetFeatures(addr),
            "ADD_DEV" => UblkControlCommands.AddDevice(Dev, addr),
            "SET_PARAMS" => UblkControlCommands.SetParams(Dev, addr),
            "GET_PARAMS" => UblkControlCommands.GetParams(Dev, addr),
            "GET_DEV_INFO" => UblkControlCommands.GetDeviceInfo(Dev, addr),
            "GET_QUEUE_AFFINITY" => UblkControlCommands.GetQueueAffinity(Dev, (int)data, addr, len),
            "START_DEV" => UblkControlCommands.StartDevice(Dev, (int)data),
            "STOP_DEV" => UblkControlCommands.StopDevice(Dev),
            "DEL_DEV" => UblkControlCommands.DeleteDevice(Dev),
            "DEL_DEV_ASYNC" => UblkControlCommands.DeleteDeviceAsync(Dev),
            "START_USER_RECOVERY" => UblkControlCommands.StartUserRecovery(Dev),
            "END_USER_RECOVERY" => UblkControlCommands.EndUserRecovery(Dev, (int)data),
            "UPDATE_SIZE" => UblkControlCommands.UpdateSize(Dev, data),
            "QUIESCE_DEV" => UblkControlCommands.QuiesceDevice(Dev, (uint)data),
            "TRY_STOP_DEV" => UblkControlCommands.TryStopDevice(Dev),
            _ => throw new ArgumentOutOfRangeException(nameof(name)),
        };
        Assert.Equal(name, UblkCommand.Name(code));

        byte[] sqe = new byte[128];
        sqe.AsSpan().Clear();
        fixed (byte* p = sqe)
        {
            UblkSqe.Control((io_uring_sqe*)p, ControlFd, code, in cmd, userData: 0x1122334455667788);
        }

        var expected = new byte[128];
        expected[0] = 46; // IORING_OP_URING_CMD
        BinaryPrimitives.WriteInt32LittleEndian(expected.AsSpan(4), ControlFd);
        BinaryPrimitives.WriteUInt32LittleEndian(expected.AsSpan(8), code);
        BinaryPrimitives.WriteUInt64LittleEndian(expected.AsSpan(32), 0x1122334455667788);
        uint dev = name == "GET_FEATURES" ? UblkControl.AnyDeviceId : Dev;
        BinaryPrimitives.WriteUInt32LittleEndian(expected.AsSpan(48), dev);
        BinaryPrimitives.WriteUInt16LittleEndian(expected.AsSpan(52), 0xFFFF); // queue_id: none
        BinaryPrimitives.WriteUInt16LittleEndian(expected.AsSpan(54), len);
        BinaryPrimitives.WriteUInt64LittleEndian(expected.AsSpan(56), addr);
        BinaryPrimitives.WriteUInt64LittleEndian(expected.AsSpan(64), data);
        Assert.Equal(Convert.ToHexString(expected), Convert.ToHexString(sqe));
    }

    [Theory]
    [InlineData(0u, 0, 0)]
    [InlineData(1u, 127, 4096)]
    [InlineData(1u, 5, -5)]
    public void IoCommandSqe(uint fetch, ushort tag, int result)
    {
        uint code = fetch == 0 ? UblkCommand.FetchReq : UblkCommand.CommitAndFetchReq;
        byte[] sqe = new byte[64];
        fixed (byte* p = sqe)
        {
            UblkSqe.Io((io_uring_sqe*)p, CharFd, code, queueId: 1, tag, result, Buffer, userData: tag);
        }

        var expected = new byte[64];
        expected[0] = 46;
        BinaryPrimitives.WriteInt32LittleEndian(expected.AsSpan(4), CharFd);
        BinaryPrimitives.WriteUInt32LittleEndian(expected.AsSpan(8), code);
        BinaryPrimitives.WriteUInt64LittleEndian(expected.AsSpan(32), tag);
        BinaryPrimitives.WriteUInt16LittleEndian(expected.AsSpan(48), 1);
        BinaryPrimitives.WriteUInt16LittleEndian(expected.AsSpan(50), tag);
        BinaryPrimitives.WriteInt32LittleEndian(expected.AsSpan(52), result);
        BinaryPrimitives.WriteUInt64LittleEndian(expected.AsSpan(56), Buffer);
        Assert.Equal(Convert.ToHexString(expected), Convert.ToHexString(sqe));
    }

    [Fact]
    public void IoCommandFitsANormalSqeAndControlNeedsSqe128()
    {
        Assert.True(io_uring_sqe.CmdOffset + ublksrv_io_cmd.Size <= 64);
        Assert.True(io_uring_sqe.CmdOffset + ublksrv_ctrl_cmd.Size > 64);
        Assert.True(ublksrv_ctrl_cmd.Size <= io_uring_sqe.CmdSize128);
    }

    [Fact]
    public void BatchCommitPointsAtItsElementsAndSaysTheirSize()
    {
        byte[] sqe = new byte[64];
        fixed (byte* p = sqe)
        {
            UblkSqe.Batch((io_uring_sqe*)p, CharFd, UblkCommand.CommitIoCmds, queueId: 2, UblkBatchFlags.HasBufAddr, count: 5, elementBytes: 16, elements: Buffer, userData: 77);
        }

        var expected = new byte[64];
        expected[0] = 46;
        BinaryPrimitives.WriteInt32LittleEndian(expected.AsSpan(4), CharFd);
        BinaryPrimitives.WriteUInt32LittleEndian(expected.AsSpan(8), UblkCommand.CommitIoCmds);
        BinaryPrimitives.WriteUInt64LittleEndian(expected.AsSpan(16), Buffer);
        BinaryPrimitives.WriteUInt32LittleEndian(expected.AsSpan(24), 5 * 16);
        BinaryPrimitives.WriteUInt64LittleEndian(expected.AsSpan(32), 77);
        BinaryPrimitives.WriteUInt16LittleEndian(expected.AsSpan(48), 2);
        BinaryPrimitives.WriteUInt16LittleEndian(expected.AsSpan(50), (ushort)UblkBatchFlags.HasBufAddr);
        BinaryPrimitives.WriteUInt16LittleEndian(expected.AsSpan(52), 5);
        expected[54] = 16;
        Assert.Equal(Convert.ToHexString(expected), Convert.ToHexString(sqe));
    }

    [Fact]
    public void BatchFetchIsAMultishotCommandThatSelectsFromItsBufferGroup()
    {
        byte[] sqe = new byte[64];
        fixed (byte* p = sqe)
        {
            UblkSqe.Fetch((io_uring_sqe*)p, CharFd, queueId: 3, bufferGroup: 1, capacity: 4096, userData: 9);
        }

        var expected = new byte[64];
        expected[0] = 46;
        expected[1] = 1 << 5; // IOSQE_BUFFER_SELECT
        BinaryPrimitives.WriteInt32LittleEndian(expected.AsSpan(4), CharFd);
        BinaryPrimitives.WriteUInt32LittleEndian(expected.AsSpan(8), UblkCommand.FetchIoCmds);
        BinaryPrimitives.WriteUInt32LittleEndian(expected.AsSpan(28), 1u << 1); // IORING_URING_CMD_MULTISHOT
        BinaryPrimitives.WriteUInt64LittleEndian(expected.AsSpan(32), 9);
        BinaryPrimitives.WriteUInt16LittleEndian(expected.AsSpan(40), 1);
        BinaryPrimitives.WriteUInt16LittleEndian(expected.AsSpan(48), 3);
        BinaryPrimitives.WriteUInt16LittleEndian(expected.AsSpan(52), 4096);
        expected[54] = 2;
        Assert.Equal(Convert.ToHexString(expected), Convert.ToHexString(sqe));
    }

    [Fact]
    public void BatchPayloadFitsANormalSqe() => Assert.True(io_uring_sqe.CmdOffset + ublk_batch_io.Size <= 64);
}
