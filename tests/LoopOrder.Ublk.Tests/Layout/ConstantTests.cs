using LoopOrder.Queues.Requests;
using LoopOrder.Tests.Shared;
using LoopOrder.Ublk.Protocol;

namespace LoopOrder.Ublk.Tests.Layout;

/// <summary>Every protocol number the transport uses, against the 6.12 and 7.3 headers' macros.</summary>
public class ConstantTests
{
    /// <summary>
    /// Numbers newer than the oldest kernel's header (7.x commands, feature bits 9 and up, ...):
    /// each is checked against every header that defines the macro, and at least one must. Add
    /// a number here when the code starts using a macro that 6.12's header lacks.
    /// </summary>
    public static readonly (string Macro, long Value)[] WhereDefined =
    [
        ("UBLK_F_USER_RECOVERY_FAIL_IO", (long)UblkFeatures.UserRecoveryFailIo),
        ("UBLK_F_UPDATE_SIZE", (long)UblkFeatures.UpdateSize),
        ("UBLK_F_AUTO_BUF_REG", (long)UblkFeatures.AutoBufReg),
        ("UBLK_F_QUIESCE", (long)UblkFeatures.Quiesce),
        ("UBLK_F_PER_IO_DAEMON", (long)UblkFeatures.PerIoDaemon),
        ("UBLK_F_BUF_REG_OFF_DAEMON", (long)UblkFeatures.BufRegOffDaemon),
        ("UBLK_F_BATCH_IO", (long)UblkFeatures.BatchIo),
        ("UBLK_F_INTEGRITY", (long)UblkFeatures.Integrity),
        ("UBLK_F_SAFE_STOP_DEV", (long)UblkFeatures.SafeStopDev),
        ("UBLK_F_NO_AUTO_PART_SCAN", (long)UblkFeatures.NoAutoPartScan),
        ("UBLK_F_SHMEM_ZC", (long)UblkFeatures.ShmemZc),
        ("UBLK_F_IO_DESC_SIZE", (long)UblkFeatures.IoDescSize),
        ("UBLK_U_CMD_UPDATE_SIZE", UblkCommand.UpdateSize),
        ("UBLK_U_CMD_QUIESCE_DEV", UblkCommand.QuiesceDev),
        ("UBLK_U_CMD_TRY_STOP_DEV", UblkCommand.TryStopDev),
        ("UBLK_S_DEV_FAIL_IO", (long)UblkDeviceState.FailIo),
        ("UBLK_U_IO_PREP_IO_CMDS", UblkCommand.PrepIoCmds),
        ("UBLK_U_IO_COMMIT_IO_CMDS", UblkCommand.CommitIoCmds),
        ("UBLK_U_IO_FETCH_IO_CMDS", UblkCommand.FetchIoCmds),
        ("UBLK_BATCH_F_HAS_ZONE_LBA", (long)UblkBatchFlags.HasZoneLba),
        ("UBLK_BATCH_F_HAS_BUF_ADDR", (long)UblkBatchFlags.HasBufAddr),
        ("UBLK_BATCH_F_AUTO_BUF_REG_FALLBACK", (long)UblkBatchFlags.AutoBufRegFallback),
    ];

    /// <summary>Every number that both kernels' headers define.</summary>
    private static readonly (string Macro, long Value)[] Everywhere =
    [
        ("UBLK_U_CMD_GET_QUEUE_AFFINITY", UblkCommand.GetQueueAffinity),
        ("UBLK_U_CMD_GET_DEV_INFO", UblkCommand.GetDevInfo),
        ("UBLK_U_CMD_ADD_DEV", UblkCommand.AddDev),
        ("UBLK_U_CMD_DEL_DEV", UblkCommand.DelDev),
        ("UBLK_U_CMD_START_DEV", UblkCommand.StartDev),
        ("UBLK_U_CMD_STOP_DEV", UblkCommand.StopDev),
        ("UBLK_U_CMD_SET_PARAMS", UblkCommand.SetParams),
        ("UBLK_U_CMD_GET_PARAMS", UblkCommand.GetParams),
        ("UBLK_U_CMD_START_USER_RECOVERY", UblkCommand.StartUserRecovery),
        ("UBLK_U_CMD_END_USER_RECOVERY", UblkCommand.EndUserRecovery),
        ("UBLK_U_CMD_GET_DEV_INFO2", UblkCommand.GetDevInfo2),
        ("UBLK_U_CMD_GET_FEATURES", UblkCommand.GetFeatures),
        ("UBLK_U_CMD_DEL_DEV_ASYNC", UblkCommand.DelDevAsync),
        ("UBLK_U_IO_FETCH_REQ", UblkCommand.FetchReq),
        ("UBLK_U_IO_COMMIT_AND_FETCH_REQ", UblkCommand.CommitAndFetchReq),
        ("UBLK_U_IO_NEED_GET_DATA", UblkCommand.NeedGetData),
        ("UBLK_FEATURES_LEN", UblkLimits.FeaturesLength),
        ("UBLK_MAX_QUEUE_DEPTH", UblkLimits.MaxQueueDepth),
        ("UBLK_MAX_NR_QUEUES", UblkLimits.MaxQueues),
        ("UBLK_IO_RES_OK", UblkLimits.IoResOk),
        ("UBLK_IO_RES_NEED_GET_DATA", UblkLimits.IoResNeedGetData),
        ("UBLK_IO_RES_ABORT", UblkLimits.IoResAbort),
        ("UBLKSRV_CMD_BUF_OFFSET", UblkLimits.CmdBufOffset),
        ("UBLK_F_SUPPORT_ZERO_COPY", (long)UblkFeatures.SupportZeroCopy),
        ("UBLK_F_URING_CMD_COMP_IN_TASK", (long)UblkFeatures.UringCmdCompInTask),
        ("UBLK_F_NEED_GET_DATA", (long)UblkFeatures.NeedGetData),
        ("UBLK_F_USER_RECOVERY", (long)UblkFeatures.UserRecovery),
        ("UBLK_F_USER_RECOVERY_REISSUE", (long)UblkFeatures.UserRecoveryReissue),
        ("UBLK_F_UNPRIVILEGED_DEV", (long)UblkFeatures.UnprivilegedDev),
        ("UBLK_F_CMD_IOCTL_ENCODE", (long)UblkFeatures.CmdIoctlEncode),
        ("UBLK_F_USER_COPY", (long)UblkFeatures.UserCopy),
        ("UBLK_F_ZONED", (long)UblkFeatures.Zoned),
        ("UBLK_S_DEV_DEAD", (long)UblkDeviceState.Dead),
        ("UBLK_S_DEV_LIVE", (long)UblkDeviceState.Live),
        ("UBLK_S_DEV_QUIESCED", (long)UblkDeviceState.Quiesced),
        ("UBLK_IO_OP_READ", UblkIoOp.Read),
        ("UBLK_IO_OP_WRITE", UblkIoOp.Write),
        ("UBLK_IO_OP_FLUSH", UblkIoOp.Flush),
        ("UBLK_IO_OP_DISCARD", UblkIoOp.Discard),
        ("UBLK_IO_OP_WRITE_SAME", UblkIoOp.WriteSame),
        ("UBLK_IO_OP_WRITE_ZEROES", UblkIoOp.WriteZeroes),
        ("UBLK_IO_F_FAILFAST_DEV", UblkIoFlags.FailfastDev),
        ("UBLK_IO_F_FAILFAST_TRANSPORT", UblkIoFlags.FailfastTransport),
        ("UBLK_IO_F_FAILFAST_DRIVER", UblkIoFlags.FailfastDriver),
        ("UBLK_IO_F_META", UblkIoFlags.Meta),
        ("UBLK_IO_F_FUA", UblkIoFlags.Fua),
        ("UBLK_IO_F_NOUNMAP", UblkIoFlags.NoUnmap),
        ("UBLK_IO_F_SWAP", UblkIoFlags.Swap),
        ("UBLK_ATTR_READ_ONLY", (long)UblkAttributes.ReadOnly),
        ("UBLK_ATTR_ROTATIONAL", (long)UblkAttributes.Rotational),
        ("UBLK_ATTR_VOLATILE_CACHE", (long)UblkAttributes.VolatileCache),
        ("UBLK_ATTR_FUA", (long)UblkAttributes.Fua),
        ("UBLK_PARAM_TYPE_BASIC", (long)UblkParamTypes.Basic),
        ("UBLK_PARAM_TYPE_DISCARD", (long)UblkParamTypes.Discard),
        ("UBLK_PARAM_TYPE_DEVT", (long)UblkParamTypes.Devt),
        ("UBLK_PARAM_TYPE_ZONED", (long)UblkParamTypes.Zoned),

        // The engine takes ops and flags from the descriptor with a cast: its numbers must be the kernel's.
        ("UBLK_IO_OP_READ", (long)BlockOp.Read),
        ("UBLK_IO_OP_WRITE", (long)BlockOp.Write),
        ("UBLK_IO_OP_FLUSH", (long)BlockOp.Flush),
        ("UBLK_IO_OP_DISCARD", (long)BlockOp.Discard),
        ("UBLK_IO_OP_WRITE_ZEROES", (long)BlockOp.WriteZeroes),
        ("UBLK_IO_F_FUA", (long)RequestFlags.Fua),
        ("UBLK_IO_F_NOUNMAP", (long)RequestFlags.NoUnmap),
    ];

    public static TheoryData<string, string, long> Values
    {
        get
        {
            var data = new TheoryData<string, string, long>();
            foreach (string kernel in UapiHeaders.Kernels)
            {
                foreach ((string macro, long value) in Everywhere)
                {
                    data.Add(kernel, macro, value);
                }
            }

            return data;
        }
    }

    public static TheoryData<string, long> Newer
    {
        get
        {
            var data = new TheoryData<string, long>();
            foreach ((string macro, long value) in WhereDefined)
            {
                data.Add(macro, value);
            }

            return data;
        }
    }

    [Theory]
    [MemberData(nameof(Values))]
    public void MatchesTheHeader(string kernel, string macro, long value)
    {
        Assert.True(KernelHeaderProbe.For(kernel).Constants.TryGetValue(macro, out long expected), $"{macro} missing from the probe of {kernel}");
        Assert.Equal(expected, value);
    }

    [Theory]
    [MemberData(nameof(Newer))]
    public void MatchesEveryHeaderThatDefinesIt(string macro, long value)
    {
        var definedIn = new List<string>();
        foreach (string kernel in UapiHeaders.Kernels)
        {
            if (KernelHeaderProbe.For(kernel).Constants.TryGetValue(macro, out long expected))
            {
                definedIn.Add(kernel);
                Assert.True(expected == value, $"{macro}: the {kernel} header says {expected}, C# says {value}");
            }
        }

        // A misspelt macro would otherwise be checked nowhere.
        Assert.True(definedIn.Count > 0, $"{macro} is in no header of {string.Join(", ", UapiHeaders.Kernels)}");
    }

    [Fact]
    public void AbortIsMinusEnodev() =>
        Assert.Equal(UblkLimits.IoResAbort, -KernelHeaderProbe.Constants["ENODEV"]);

    [Fact]
    public void CommandCodesMatchTheProtocolNotes()
    {
        // The table in ublk-protocol.md, spelled out once more so a typo in either shows.
        Assert.Equal(0xC0207504u, UblkCommand.AddDev);
        Assert.Equal(0x80207513u, UblkCommand.GetFeatures);
        Assert.Equal(0xC0107520u, UblkCommand.FetchReq);
        Assert.Equal(0xC0107521u, UblkCommand.CommitAndFetchReq);
    }

    [Theory]
    [InlineData(4096, 98304)]
    [InlineData(16384, 98304)]
    [InlineData(65536, 131072)]
    public void DescriptorAreasAreStridedByTheMaximumDepth(int pageSize, long stride)
    {
        // ublk_ch_mmap: queue = offset / round_up(UBLK_MAX_QUEUE_DEPTH * sizeof(ublksrv_io_desc), PAGE_SIZE).
        Assert.Equal(stride, UblkLimits.DescriptorAreaStride(pageSize));
        Assert.Equal(3 * stride, UblkLimits.DescriptorAreaOffset(3, pageSize));
        Assert.Equal(98304, KernelHeaderProbe.Constants["UBLK_MAX_QUEUE_DEPTH"] * KernelHeaderProbe.Sizes["ublksrv_io_desc"]);
    }

    [Theory]
    [InlineData(128, 4096, 4096)]
    [InlineData(170, 4096, 4096)]
    [InlineData(171, 4096, 8192)]
    [InlineData(4096, 4096, 98304)]
    public void DescriptorAreaLengthIsDepthTimes24RoundedToAPage(int depth, int pageSize, long length) =>
        Assert.Equal(length, UblkLimits.DescriptorAreaLength(depth, pageSize));
}
