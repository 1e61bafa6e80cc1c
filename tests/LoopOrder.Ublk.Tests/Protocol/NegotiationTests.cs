using LoopOrder.Ublk.Control;
using LoopOrder.Ublk.Device;
using LoopOrder.Ublk.Protocol;

namespace LoopOrder.Ublk.Tests.Protocol;

/// <summary>What ADD_DEV asks for, given what GET_FEATURES offered: never more than offered.</summary>
public class NegotiationTests
{
    // What GET_FEATURES reported in the VM: 6.12.95 (UBLK_F_ALL less zero copy) and 7.3.4 (bits 0-20).
    private const UblkFeatures Offered612 = (UblkFeatures)0x1FE;
    private const UblkFeatures Offered73 = (UblkFeatures)0x1FFFFF;

    private static readonly UblkDeviceOptions Served = new() { SizeBytes = 1 << 20, UserRecovery = true };

    [Fact]
    public void On612OnlyTheOldFlagsAreAskedFor()
    {
        UblkFeatures f = UblkNegotiation.Request(Served, Offered612);
        Assert.Equal(UblkFeatures.CmdIoctlEncode | UblkFeatures.UserRecovery | UblkFeatures.UserRecoveryReissue, f);
    }

    [Fact]
    public void On73ResizeSafeStopAndNoPartitionScanAreAskedFor()
    {
        UblkFeatures f = UblkNegotiation.Request(Served, Offered73);
        Assert.Equal(
            UblkFeatures.CmdIoctlEncode | UblkFeatures.UserRecovery | UblkFeatures.UserRecoveryReissue
            | UblkFeatures.UpdateSize | UblkFeatures.SafeStopDev | UblkFeatures.NoAutoPartScan,
            f);
    }

    [Fact]
    public void NothingIsAskedForThatIsNotOffered()
    {
        var everything = new UblkDeviceOptions { SizeBytes = 1 << 20, UserRecovery = true, Quiesce = true, ZeroCopy = true, BatchIo = true };
        for (int bit = 0; bit < 21; bit++)
        {
            var offered = (UblkFeatures)((1UL << bit) | (ulong)UblkFeatures.UserRecovery | (ulong)UblkFeatures.UserRecoveryReissue);
            UblkFeatures asked = UblkNegotiation.Request(everything, offered);
            Assert.Equal(UblkFeatures.None, asked & ~offered & ~UblkFeatures.CmdIoctlEncode);
        }
    }

    [Fact]
    public void ZeroCopyAsksForAutoBufRegOnlyWhereOfferedAndOnlyWhenAsked()
    {
        var zeroCopy = new UblkDeviceOptions { SizeBytes = 1 << 20, UserRecovery = true, ZeroCopy = true };
        Assert.Equal(UblkFeatures.AutoBufReg, UblkNegotiation.Request(zeroCopy, Offered73) & UblkFeatures.AutoBufReg);
        Assert.Equal(UblkFeatures.None, UblkNegotiation.Request(zeroCopy, Offered612) & UblkFeatures.AutoBufReg);
        Assert.Equal(UblkFeatures.None, UblkNegotiation.Request(Served, Offered73) & UblkFeatures.AutoBufReg);
    }

    [Fact]
    public void BatchIoIsAskedForOnlyWhereOfferedAndOnlyWhenAsked()
    {
        var batch = new UblkDeviceOptions { SizeBytes = 1 << 20, UserRecovery = true, BatchIo = true };
        Assert.Equal(UblkFeatures.BatchIo, UblkNegotiation.Request(batch, Offered73) & UblkFeatures.BatchIo);
        Assert.Equal(UblkFeatures.None, UblkNegotiation.Request(batch, Offered612) & UblkFeatures.BatchIo);
        Assert.Equal(UblkFeatures.None, UblkNegotiation.Request(Served, Offered73) & UblkFeatures.BatchIo);
        Assert.Equal(UblkFeatureUse.Option, UblkNegotiation.Describe(Offered73).Single(x => x.Feature == UblkFeatures.BatchIo).Use);
    }

    [Fact]
    public void PartitionsLeavesTheScanOn()
    {
        var partitions = new UblkDeviceOptions { SizeBytes = 1 << 20, UserRecovery = true, PartitionScan = true };
        Assert.Equal(UblkFeatures.None, UblkNegotiation.Request(partitions, Offered73) & UblkFeatures.NoAutoPartScan);
    }

    [Fact]
    public void FailFastReplacesReissueAndIsRefusedWhereNotOffered()
    {
        var failFast = new UblkDeviceOptions { SizeBytes = 1 << 20, UserRecovery = true, RecoveryFailIo = true };
        UblkFeatures f = UblkNegotiation.Request(failFast, Offered73);
        Assert.Equal(UblkFeatures.UserRecovery | UblkFeatures.UserRecoveryFailIo, f & (UblkFeatures.UserRecovery | UblkFeatures.UserRecoveryFailIo | UblkFeatures.UserRecoveryReissue));

        var e = Assert.Throws<UblkFeatureUnavailableException>(() => UblkNegotiation.Request(failFast, Offered612));
        Assert.Equal(UblkFeatures.UserRecoveryFailIo, e.Feature);
        Assert.Contains("UBLK_F_USER_RECOVERY_FAIL_IO", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void QuiesceOnlyWithRecoveryAndWhenAskedFor()
    {
        var quiesce = new UblkDeviceOptions { SizeBytes = 1 << 20, UserRecovery = true, Quiesce = true };
        var noRecovery = new UblkDeviceOptions { SizeBytes = 1 << 20, Quiesce = true };
        Assert.True(UblkNegotiation.Request(quiesce, Offered73).HasFlag(UblkFeatures.Quiesce));
        Assert.False(UblkNegotiation.Request(noRecovery, Offered73).HasFlag(UblkFeatures.Quiesce));
        Assert.False(UblkNegotiation.Request(Served, Offered73).HasFlag(UblkFeatures.Quiesce));
    }

    [Fact]
    public void DescribeListsEveryKnownFlagAndUnknownOffered()
    {
        var unknown = (UblkFeatures)(1UL << 40);
        IReadOnlyList<UblkFeatureDescription> d = UblkNegotiation.Describe(Offered612 | unknown);
        Assert.Equal(22, d.Count);
        Assert.True(d.Single(x => x.Feature == UblkFeatures.UserRecovery).Offered);
        Assert.False(d.Single(x => x.Feature == UblkFeatures.UpdateSize).Offered);
        Assert.Equal(UblkFeatureUse.Unused, d.Single(x => x.Feature == UblkFeatures.Zoned).Use);
        Assert.Contains("zoned", d.Single(x => x.Feature == UblkFeatures.Zoned).Reason, StringComparison.Ordinal);
        Assert.Equal(UblkFeatureUse.Option, d.Single(x => x.Feature == UblkFeatures.AutoBufReg).Use);
        Assert.Contains("--zero-copy", d.Single(x => x.Feature == UblkFeatures.AutoBufReg).Reason, StringComparison.Ordinal);
        Assert.Equal("bit 40", d[^1].Name);
    }
}
