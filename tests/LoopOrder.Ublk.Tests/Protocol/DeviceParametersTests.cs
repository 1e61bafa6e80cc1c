using LoopOrder.Ublk.Control;
using LoopOrder.Ublk.Device;
using LoopOrder.Ublk.Protocol;
using LoopOrder.Ublk.Structs;

namespace LoopOrder.Ublk.Tests.Protocol;

/// <summary>What ADD_DEV and SET_PARAMS ask the kernel for.</summary>
public class DeviceParametersTests
{
    private static readonly ublksrv_ctrl_dev_info Negotiated = new() { nr_hw_queues = 2, queue_depth = 128, max_io_buf_bytes = 512 * 1024, dev_id = 0 };

    [Fact]
    public void ParamsAdvertiseAWriteBackCacheWithFuaAndTheNegotiatedLimits()
    {
        var options = new UblkDeviceOptions { SizeBytes = 1L << 30 };
        ublk_params p = UblkDevice.BuildParams(options, Negotiated);
        Assert.Equal((uint)ublk_params.Size, p.len);
        Assert.Equal((uint)(UblkParamTypes.Basic | UblkParamTypes.Discard), p.types);
        Assert.Equal((uint)(UblkAttributes.VolatileCache | UblkAttributes.Fua), p.basic.attrs);
        Assert.Equal(9, p.basic.logical_bs_shift);
        Assert.Equal(12, p.basic.physical_bs_shift);
        Assert.Equal(12, p.basic.io_min_shift);
        Assert.Equal(12, p.basic.io_opt_shift);
        Assert.Equal(1024u, p.basic.max_sectors); // 512 KiB / 512
        Assert.Equal((1ul << 30) / 512, p.basic.dev_sectors);
        Assert.Equal(0u, p.basic.chunk_sectors);
        Assert.Equal(4096u, p.discard.discard_granularity);
        Assert.Equal(1, p.discard.max_discard_segments); // the driver rejects anything else
        Assert.Equal(UblkDeviceOptions.MaxDiscardSectors, p.discard.max_discard_sectors);
        Assert.Equal(UblkDeviceOptions.MaxDiscardSectors, p.discard.max_write_zeroes_sectors);
        Assert.True((long)p.discard.max_discard_sectors * 512 <= int.MaxValue);
    }

    [Fact]
    public void MaxSectorsFollowsWhatTheKernelReturnedNotWhatWasAsked()
    {
        var options = new UblkDeviceOptions { SizeBytes = 1L << 20, MaxIoBytes = 1 << 20 };
        ublksrv_ctrl_dev_info info = Negotiated;
        info.max_io_buf_bytes = 256 * 1024;
        Assert.Equal(512u, UblkDevice.BuildParams(options, info).basic.max_sectors);
    }

    [Fact]
    public void FourKLogicalBlocksAndReadOnly()
    {
        var options = new UblkDeviceOptions { SizeBytes = 1L << 20, LogicalBlockSize = 4096, ReadOnly = true };
        ublk_params p = UblkDevice.BuildParams(options, Negotiated);
        Assert.Equal(12, p.basic.logical_bs_shift);
        Assert.Equal((uint)(UblkAttributes.VolatileCache | UblkAttributes.Fua | UblkAttributes.ReadOnly), p.basic.attrs);
        Assert.Equal((uint)UblkParamTypes.Basic, p.types); // no discard on a read-only disk
    }

    [Fact]
    public void DeviceInfoAsksForIoctlEncodingAndRecoveryOnlyWhenOfferedAndWanted()
    {
        var plain = new UblkDeviceOptions { SizeBytes = 1 << 20, Queues = 2 };
        var recovering = new UblkDeviceOptions { SizeBytes = 1 << 20, UserRecovery = true };
        const UblkFeatures offered = UblkFeatures.CmdIoctlEncode | UblkFeatures.UserRecovery | UblkFeatures.UserRecoveryReissue;

        ublksrv_ctrl_dev_info a = UblkDevice.BuildDeviceInfo(plain, offered);
        Assert.Equal((ulong)UblkFeatures.CmdIoctlEncode, a.flags);
        Assert.Equal(2, a.nr_hw_queues);
        Assert.Equal(128, a.queue_depth);
        Assert.Equal(512u * 1024, a.max_io_buf_bytes);
        Assert.Equal(UblkControl.AnyDeviceId, a.dev_id);

        ublksrv_ctrl_dev_info b = UblkDevice.BuildDeviceInfo(recovering, offered);
        Assert.Equal((ulong)offered, b.flags);

        ublksrv_ctrl_dev_info c = UblkDevice.BuildDeviceInfo(recovering, UblkFeatures.CmdIoctlEncode);
        Assert.Equal((ulong)UblkFeatures.CmdIoctlEncode, c.flags);
    }

    [Theory]
    [InlineData(1000, 512, 4096)] // not a multiple of the block size
    [InlineData(4096, 1024 * 3, 4096)] // not a power of two
    [InlineData(4096, 4096, 512)] // physical below logical
    public void BadGeometryIsRefused(long size, int logical, int physical)
    {
        var options = new UblkDeviceOptions { SizeBytes = size, LogicalBlockSize = logical, PhysicalBlockSize = physical };
        Assert.ThrowsAny<ArgumentException>(options.Validate);
    }

    [Fact]
    public void OpeningAMissingControlDeviceSaysWhatToLoad()
    {
        var e = Assert.Throws<UblkUnavailableException>(() => UblkControl.Open("/nonexistent/ublk-control"));
        Assert.Contains("ublk_drv", e.Message, StringComparison.Ordinal);
        Assert.Contains("modprobe", e.Message, StringComparison.Ordinal);
        Assert.Throws<UblkUnavailableException>(() => UblkDevice.Create(
            new UblkDeviceOptions { SizeBytes = 1 << 20, ControlPath = "/nonexistent/ublk-control" },
            _ => { }));
    }
}
