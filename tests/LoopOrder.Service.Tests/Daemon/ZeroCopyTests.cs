using LoopOrder.Ublk.Device;

namespace LoopOrder.Service.Tests.Daemon;

/// <summary>
/// --zero-copy auto|on|off decides whether a device asks the kernel for UBLK_F_AUTO_BUF_REG:
/// auto with --direct-io only, on for a buffered file too, off never; and never for storage
/// wrapped by a test option, whose recorder or fault injector must see every byte.
/// </summary>
public sealed class ZeroCopyTests : IDisposable
{
    private readonly DaemonFixture _f = new();

    public void Dispose() => _f.Dispose();

    [Theory]
    [InlineData(new string[0], false)]
    [InlineData(new[] { "--direct-io" }, true)]
    [InlineData(new[] { "--zero-copy", "on" }, true)]
    [InlineData(new[] { "--zero-copy", "off", "--direct-io" }, false)]
    [InlineData(new[] { "--zero-copy", "auto", "--direct-io" }, true)]
    [InlineData(new[] { "--zero-copy", "on", "--testing", "--inject-faults", "write:eio@1" }, false)]
    public void The_mode_and_the_cache_decide_what_the_device_asks_for(string[] extra, bool asked)
    {
        _f.Start();
        (int code, _, string err) = _f.Run(["add", "--file", _f.PathOf("zc.img"), "--size", "1M", .. extra]);
        Assert.True(code == 0, err);
        UblkDeviceOptions created = Assert.Single(_f.Factory.Created.Values);
        Assert.Equal(asked, created.ZeroCopy);
    }

    [Fact]
    public void A_mode_that_is_not_one_exits_64()
    {
        (int code, _, string err) = _f.Run(["serve", "--file", _f.PathOf("never.img"), "--size", "1M", "--zero-copy", "maybe"]);
        Assert.Equal(64, code);
        Assert.Contains("--zero-copy", err, StringComparison.Ordinal);
        Assert.False(File.Exists(_f.PathOf("never.img")));
    }
}
