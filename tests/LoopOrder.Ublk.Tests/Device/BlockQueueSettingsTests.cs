using LoopOrder.Ublk.Device;
using Microsoft.Extensions.Logging.Abstractions;

namespace LoopOrder.Ublk.Tests.Device;

/// <summary>The sysfs writes of <see cref="BlockQueueSettings"/>, against a folder laid out like /sys/block.</summary>
public sealed class BlockQueueSettingsTests : IDisposable
{
    private readonly string _sysBlock = Directory.CreateTempSubdirectory("sysblock-").FullName;

    public void Dispose() => Directory.Delete(_sysBlock, recursive: true);

    [Fact]
    public void TheSchedulerFileIsTheDevicesQueueScheduler() =>
        Assert.Equal("/sys/block/ublkb3/queue/scheduler", BlockQueueSettings.SchedulerPath("/dev/ublkb3"));

    [Fact]
    public void WritesTheSchedulerName()
    {
        string queue = Directory.CreateDirectory(Path.Combine(_sysBlock, "ublkb0", "queue")).FullName;
        File.WriteAllText(Path.Combine(queue, "scheduler"), "[mq-deadline] none");

        Assert.True(BlockQueueSettings.TrySetScheduler("/dev/ublkb0", BlockQueueSettings.NoScheduler, NullLogger.Instance, _sysBlock));

        Assert.Equal("none", File.ReadAllText(Path.Combine(queue, "scheduler")));
    }

    [Fact]
    public void ARefusalIsReportedNotThrown() =>
        Assert.False(BlockQueueSettings.TrySetScheduler("/dev/ublkb9", BlockQueueSettings.NoScheduler, NullLogger.Instance, _sysBlock));

    [Fact]
    public void DevicesGetNoSchedulerByDefault() =>
        Assert.Equal(BlockQueueSettings.NoScheduler, new UblkDeviceOptions { SizeBytes = 1 << 20 }.IoScheduler);
}
