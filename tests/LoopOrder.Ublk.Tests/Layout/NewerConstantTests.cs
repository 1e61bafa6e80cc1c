using LoopOrder.Ublk.Protocol;

namespace LoopOrder.Ublk.Tests.Layout;

/// <summary>
/// The numbers added after 6.12 spelled out as read from the 7.3.4 header, so a typo in either
/// place shows even where only the 6.12 header is at hand (ConstantTests.WhereDefined checks them
/// against every header that defines them), and the flag names used in messages.
/// </summary>
public class NewerConstantTests
{
    // Read from 7.3.4's /usr/include/linux/ublk_cmd.h: (name, value in that header, C# value).
    public static TheoryData<string, long, long> Values => new()
    {
        { "UBLK_U_CMD_UPDATE_SIZE", 0xC0207515, UblkCommand.UpdateSize },
        { "UBLK_U_CMD_QUIESCE_DEV", 0xC0207516, UblkCommand.QuiesceDev },
        { "UBLK_U_CMD_TRY_STOP_DEV", 0xC0207517, UblkCommand.TryStopDev },
        { "UBLK_S_DEV_FAIL_IO", 3, (long)UblkDeviceState.FailIo },
        { "UBLK_U_IO_PREP_IO_CMDS", 0xC0107525, UblkCommand.PrepIoCmds },
        { "UBLK_U_IO_COMMIT_IO_CMDS", 0xC0107526, UblkCommand.CommitIoCmds },
        { "UBLK_U_IO_FETCH_IO_CMDS", 0xC0107527, UblkCommand.FetchIoCmds },
        { "UBLK_F_USER_RECOVERY_FAIL_IO", 1L << 9, (long)UblkFeatures.UserRecoveryFailIo },
        { "UBLK_F_UPDATE_SIZE", 1L << 10, (long)UblkFeatures.UpdateSize },
        { "UBLK_F_AUTO_BUF_REG", 1L << 11, (long)UblkFeatures.AutoBufReg },
        { "UBLK_F_QUIESCE", 1L << 12, (long)UblkFeatures.Quiesce },
        { "UBLK_F_PER_IO_DAEMON", 1L << 13, (long)UblkFeatures.PerIoDaemon },
        { "UBLK_F_BUF_REG_OFF_DAEMON", 1L << 14, (long)UblkFeatures.BufRegOffDaemon },
        { "UBLK_F_BATCH_IO", 1L << 15, (long)UblkFeatures.BatchIo },
        { "UBLK_F_INTEGRITY", 1L << 16, (long)UblkFeatures.Integrity },
        { "UBLK_F_SAFE_STOP_DEV", 1L << 17, (long)UblkFeatures.SafeStopDev },
        { "UBLK_F_NO_AUTO_PART_SCAN", 1L << 18, (long)UblkFeatures.NoAutoPartScan },
        { "UBLK_F_SHMEM_ZC", 1L << 19, (long)UblkFeatures.ShmemZc },
        { "UBLK_F_IO_DESC_SIZE", 1L << 20, (long)UblkFeatures.IoDescSize },
    };

    [Theory]
    [MemberData(nameof(Values))]
    public void MatchesThe73Header(string macro, long in73, long value)
    {
        Assert.Equal(in73, value);
        Assert.Contains(ConstantTests.WhereDefined, w => w.Macro == macro && w.Value == value);
    }

    [Fact]
    public void EveryKnownFlagHasItsHeaderName()
    {
        foreach (UblkFeatures f in UblkFeatureNames.Known)
        {
            Assert.StartsWith("UBLK_F_", UblkFeatureNames.Name(f), StringComparison.Ordinal);
        }

        Assert.Equal(21, UblkFeatureNames.Known.Count);
        Assert.Equal("bit 40", UblkFeatureNames.Name((UblkFeatures)(1UL << 40)));
        Assert.Equal("USER_RECOVERY|UPDATE_SIZE|bit 40", UblkFeatureNames.Format(UblkFeatures.UserRecovery | UblkFeatures.UpdateSize | (UblkFeatures)(1UL << 40)));
    }
}
