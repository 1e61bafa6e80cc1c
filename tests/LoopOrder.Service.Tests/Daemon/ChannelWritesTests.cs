using LoopOrder.Ublk.Device;

namespace LoopOrder.Service.Tests.Daemon;

/// <summary>
/// --channel-writes decides whether a device's queue threads get their own lanes for buffered
/// writes (the default) or send every write through the socket workers.
/// </summary>
public sealed class ChannelWritesTests : IDisposable
{
    private readonly DaemonFixture _f = new();

    public void Dispose() => _f.Dispose();

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void The_option_decides_whether_a_queue_thread_gets_a_lane(bool channelWrites)
    {
        _f.Start();
        string[] extra = channelWrites ? ["--channel-writes"] : [];
        (int code, _, string err) = _f.Run(["add", "--file", _f.PathOf("lane.img"), "--size", "1M", .. extra]);
        Assert.True(code == 0, err);

        // What each queue thread would call as it starts (here on the test thread, which has no lane yet).
        UblkDeviceOptions created = Assert.Single(_f.Factory.Created.Values);
        Assert.NotNull(created.QueueThreadInit);
        using IDisposable? lane = created.QueueThreadInit();
        Assert.Equal(channelWrites, lane is null);
    }
}
