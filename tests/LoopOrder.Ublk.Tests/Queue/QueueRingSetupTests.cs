using LoopOrder.Interop.Uring;
using LoopOrder.Ublk.Queue;

namespace LoopOrder.Ublk.Tests.Queue;

/// <summary>
/// The queue rings' task-work mode: DEFER_TASKRUN only on kernels with the io_uring fix for a
/// killed server's ring teardown (7.1+), COOP_TASKRUN below (6.12 oopsed with DEFER_TASKRUN under
/// the SIGKILL stress); the override names one of the three modes or is refused.
/// </summary>
public class QueueRingSetupTests
{
    [Theory]
    [InlineData("6.12.95", "Coop")]
    [InlineData("6.1.0", "Coop")]
    [InlineData("7.0.9", "Coop")]
    [InlineData("7.1.0", "Defer")]
    [InlineData("7.3.4", "Defer")]
    [InlineData("8.0", "Defer")]
    public void TheKernelReleaseDecides(string kernel, string expected) =>
        Assert.Equal(Enum.Parse<QueueTaskrun>(expected), QueueRingSetup.Choose(Version.Parse(kernel), null));

    [Theory]
    [InlineData("defer", "Defer")]
    [InlineData("coop", "Coop")]
    [InlineData("none", "None")]
    public void TheOverrideWinsOnEitherKernel(string requested, string mode)
    {
        QueueTaskrun expected = Enum.Parse<QueueTaskrun>(mode);
        Assert.Equal(expected, QueueRingSetup.Choose(new Version(6, 12, 95), requested));
        Assert.Equal(expected, QueueRingSetup.Choose(new Version(7, 3, 4), requested));
    }

    [Fact]
    public void AnEmptyOverrideIsTheAutomaticChoice() =>
        Assert.Equal(QueueTaskrun.Coop, QueueRingSetup.Choose(new Version(6, 12, 95), string.Empty));

    [Theory]
    [InlineData("DEFER")]
    [InlineData("deferred")]
    [InlineData("1")]
    public void AnUnknownOverrideIsRefusedByName(string requested)
    {
        ArgumentException e = Assert.Throws<ArgumentException>(() => QueueRingSetup.Choose(new Version(7, 3), requested));
        Assert.Contains(QueueRingSetup.OverrideVariable, e.Message, StringComparison.Ordinal);
        Assert.Contains("defer, coop or none", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void EachModeHasItsFlags()
    {
        Assert.Equal(IoUringSetupFlags.SingleIssuer | IoUringSetupFlags.DeferTaskrun, QueueRingSetup.Flags(QueueTaskrun.Defer));
        Assert.Equal(IoUringSetupFlags.SingleIssuer | IoUringSetupFlags.CoopTaskrun, QueueRingSetup.Flags(QueueTaskrun.Coop));
        Assert.Equal(IoUringSetupFlags.None, QueueRingSetup.Flags(QueueTaskrun.None));
    }
}
