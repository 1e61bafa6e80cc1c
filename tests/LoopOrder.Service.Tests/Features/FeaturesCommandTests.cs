using System.Text.Json;
using LoopOrder.Service.Tests.Daemon;
using LoopOrder.Ublk.Protocol;

namespace LoopOrder.Service.Tests.Features;

/// <summary><c>loop-order features</c> over a fake kernel: every flag named, offered or not, used or not, and why.</summary>
public sealed class FeaturesCommandTests : IDisposable
{
    private readonly DaemonFixture _f = new();

    public void Dispose() => _f.Dispose();

    [Fact]
    public void On612EveryFlagIsListedAndTheNewOnesAreNotOffered()
    {
        (int code, string output, string error) = _f.Run("features");
        Assert.Equal(ExitCodes.Ok, code);
        Assert.Equal("", error);
        Assert.Contains("ublk_drv offers 0x1fe", output, StringComparison.Ordinal);
        foreach (UblkFeatures f in UblkFeatureNames.Known)
        {
            Assert.Contains(UblkFeatureNames.ShortName(f), output, StringComparison.Ordinal);
        }

        string update = output.Split('\n').Single(l => l.Contains(" UPDATE_SIZE ", StringComparison.Ordinal));
        Assert.Matches(@"UPDATE_SIZE\s+-\s+-\s+loop-order resize", update);
        string recovery = output.Split('\n').Single(l => l.Contains(" USER_RECOVERY ", StringComparison.Ordinal));
        Assert.Matches(@"USER_RECOVERY\s+offered\s+uses", recovery);
        string zoned = output.Split('\n').Single(l => l.Contains(" ZONED ", StringComparison.Ordinal));
        Assert.Matches(@"ZONED\s+offered\s+no\s+not a zoned target", zoned);
    }

    [Fact]
    public void JsonSaysWhatIsOfferedAndUsedOnANewerKernel()
    {
        _f.Factory.OfferedFeatures = (UblkFeatures)0x7FFFF;
        (int code, string output, _) = _f.Run("features", "--json");
        Assert.Equal(ExitCodes.Ok, code);
        using var doc = JsonDocument.Parse(output);
        Assert.Equal("0x7ffff", doc.RootElement.GetProperty("offered").GetString());
        JsonElement[] all = [.. doc.RootElement.GetProperty("features").EnumerateArray()];
        Assert.Equal(UblkFeatureNames.Known.Count, all.Length);
        JsonElement ByName(string n) => all.Single(e => e.GetProperty("name").GetString() == n);
        Assert.True(ByName("UBLK_F_UPDATE_SIZE").GetProperty("used").GetBoolean());
        Assert.True(ByName("UBLK_F_SAFE_STOP_DEV").GetProperty("used").GetBoolean());
        Assert.True(ByName("UBLK_F_AUTO_BUF_REG").GetProperty("used").GetBoolean()); // by --zero-copy
        Assert.False(ByName("UBLK_F_INTEGRITY").GetProperty("used").GetBoolean());
        Assert.True(ByName("UBLK_F_BATCH_IO").GetProperty("used").GetBoolean()); // by --batch-io
        Assert.Contains("--batch-io", ByName("UBLK_F_BATCH_IO").GetProperty("reason").GetString(), StringComparison.Ordinal);
        Assert.Contains("performance work", ByName("UBLK_F_SHMEM_ZC").GetProperty("reason").GetString(), StringComparison.Ordinal);
        Assert.False(ByName("UBLK_F_IO_DESC_SIZE").GetProperty("offered").GetBoolean());
    }

    [Fact]
    public void WithoutUblkDrvItExits69()
    {
        _f.Factory.IsAvailable = false;
        (int code, string output, string error) = _f.Run("features");
        Assert.Equal(ExitCodes.Unavailable, code);
        Assert.Equal("", output);
        Assert.Contains("modprobe ublk_drv", error, StringComparison.Ordinal);
    }
}
