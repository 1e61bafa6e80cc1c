using LoopOrder.Interop.Uring;

namespace LoopOrder.Interop.Tests;

/// <summary>
/// DEFER_TASKRUN only on kernels with the io_uring teardown fix (7.1+) or when asked for by
/// name; otherwise an optional DEFER_TASKRUN becomes COOP_TASKRUN and every other flag stays.
/// </summary>
public class DeferTaskrunGateTests
{
    [Theory]
    [InlineData("6.12.95", null, false)]
    [InlineData("7.0.9", "", false)]
    [InlineData("7.1.0", null, true)]
    [InlineData("7.3.4", null, true)]
    [InlineData("6.12.95", "defer", true)]
    [InlineData("7.3.4", "coop", false)]
    [InlineData("7.3.4", "none", false)]
    public void ReleaseOrOverride(string kernel, string? requested, bool allowed) =>
        Assert.Equal(allowed, DeferTaskrunGate.Allows(Version.Parse(kernel), requested));

    [Fact]
    public void DeferBecomesCoopAndTheRestStays()
    {
        const IoUringSetupFlags fileRing = IoUringSetupFlags.SubmitAll | IoUringSetupFlags.SingleIssuer | IoUringSetupFlags.DeferTaskrun | IoUringSetupFlags.TaskrunFlag;
        Assert.Equal(
            IoUringSetupFlags.SubmitAll | IoUringSetupFlags.SingleIssuer | IoUringSetupFlags.CoopTaskrun | IoUringSetupFlags.TaskrunFlag,
            DeferTaskrunGate.Apply(fileRing, allowed: false));
        Assert.Equal(fileRing, DeferTaskrunGate.Apply(fileRing, allowed: true));
        Assert.Equal(IoUringSetupFlags.SingleIssuer | IoUringSetupFlags.CoopTaskrun, DeferTaskrunGate.Apply(IoUringSetupFlags.SingleIssuer | IoUringSetupFlags.CoopTaskrun, allowed: false));
        Assert.Equal(IoUringSetupFlags.None, DeferTaskrunGate.Apply(IoUringSetupFlags.None, allowed: false));
    }
}
