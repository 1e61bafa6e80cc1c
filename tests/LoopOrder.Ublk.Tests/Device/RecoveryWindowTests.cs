using LoopOrder.Ublk.Device;

namespace LoopOrder.Ublk.Tests.Device;

/// <summary>
/// Which devices get the start warning about the kernel's partial-recovery oops (reproduced on
/// 6.12.95 by tests/vm/sigkill/partial.sh): multi-queue devices on kernels before 6.15 only.
/// </summary>
public class RecoveryWindowTests
{
    [Theory]
    [InlineData("6.12.95", 2, true)]
    [InlineData("6.12.95", 4, true)]
    [InlineData("6.14.11", 2, true)]
    [InlineData("6.12.95", 1, false)]
    [InlineData("6.15.0", 2, false)]
    [InlineData("7.3.4", 2, false)]
    public void OnlyMultiQueueDevicesOnOlderKernels(string kernel, int queues, bool warned) =>
        Assert.Equal(warned, UblkDevice.RecoveryCanOops(Version.Parse(kernel), queues));
}
