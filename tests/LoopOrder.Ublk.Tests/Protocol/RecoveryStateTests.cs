using LoopOrder.Ublk.Device;
using LoopOrder.Ublk.Protocol;
using LoopOrder.Ublk.Structs;

namespace LoopOrder.Ublk.Tests.Protocol;

/// <summary>
/// When START_USER_RECOVERY's EINVAL means an earlier recovery died before its queues armed (go on
/// without it), and when it means the device cannot be recovered at all (fail).
/// </summary>
public class RecoveryStateTests
{
    private const UblkFeatures Recovery = UblkFeatures.CmdIoctlEncode | UblkFeatures.UserRecovery | UblkFeatures.UserRecoveryReissue;

    [Fact]
    public void AQuiescedRecoveryDeviceWasLeftByAnInterruptedRecovery()
    {
        Assert.True(UblkDevice.RecoveryInterrupted(Info(Recovery, UblkDeviceState.Quiesced)));
        Assert.True(UblkDevice.RecoveryInterrupted(Info(UblkFeatures.UserRecovery, UblkDeviceState.Quiesced)));
    }

    [Fact]
    public void AFailFastDeviceWaitsInFailIoInsteadOfQuiesced()
    {
        const UblkFeatures failIo = UblkFeatures.CmdIoctlEncode | UblkFeatures.UserRecovery | UblkFeatures.UserRecoveryFailIo;
        Assert.True(UblkDevice.RecoveryInterrupted(Info(failIo, UblkDeviceState.FailIo)));
    }

    [Fact]
    public void ADeviceWithoutRecoveryIsNeverTakenOver()
    {
        // The driver stops such a device when its server dies; EINVAL is final.
        Assert.False(UblkDevice.RecoveryInterrupted(Info(UblkFeatures.CmdIoctlEncode, UblkDeviceState.Quiesced)));
        Assert.False(UblkDevice.RecoveryInterrupted(Info(UblkFeatures.None, UblkDeviceState.Quiesced)));
    }

    [Theory]
    [InlineData(UblkDeviceState.Live)]
    [InlineData(UblkDeviceState.Dead)]
    public void ALiveOrStoppedDeviceIsNotWaitingForAServer(UblkDeviceState state)
    {
        // Live: someone serves it (or its server's death is not noticed yet); dead: stopped.
        Assert.False(UblkDevice.RecoveryInterrupted(Info(Recovery, state)));
    }

    private static ublksrv_ctrl_dev_info Info(UblkFeatures flags, UblkDeviceState state) => new()
    {
        nr_hw_queues = 2,
        queue_depth = 128,
        dev_id = 3,
        flags = (ulong)flags,
        state = (ushort)state,
    };
}
