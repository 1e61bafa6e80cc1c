using LoopOrder.Service.Tests.Daemon;
using LoopOrder.Ublk.Protocol;

namespace LoopOrder.Service.Tests.Features;

/// <summary>
/// resize, del without --force, --recovery-io and --partitions through the real daemon over the
/// fake kernel: what reaches the kernel, what happens to the file, and every refusal's exit code
/// and message with nothing changed.
/// </summary>
public sealed class ResizeDeleteOptionTests : IDisposable
{
    private const long MiB = 1 << 20;
    private const UblkFeatures Modern = UblkFeatures.CmdIoctlEncode | UblkFeatures.UserRecovery | UblkFeatures.UserRecoveryReissue
        | UblkFeatures.UpdateSize | UblkFeatures.SafeStopDev | UblkFeatures.NoAutoPartScan;

    private readonly DaemonFixture _f = new();

    public void Dispose() => _f.Dispose();

    private (uint Id, string File) AddDevice(UblkFeatures granted = Modern, string size = "4M")
    {
        _f.Factory.Granted = granted;
        _f.Factory.OfferedFeatures = granted;
        if (_f.Daemon is null)
        {
            _f.Start();
        }

        string file = _f.PathOf($"disk{Guid.NewGuid():N}.img");
        (int code, string output, string error) = _f.Run("add", "--file", file, "--size", size);
        Assert.True(code == ExitCodes.Ok, error);
        uint id = uint.Parse(output.Trim()["/dev/ublkb".Length..], System.Globalization.CultureInfo.InvariantCulture);
        return (id, file);
    }

    private string Record(uint id) => File.ReadAllText(Path.Combine(_f.RuntimeDirectory, "devices", $"{id}.json"));

    [Fact]
    public void ResizeGrowsTheFileThenTheDeviceAndRecordsTheSize()
    {
        (uint id, string file) = AddDevice();
        (int code, string output, string error) = _f.Run("resize", id.ToString(System.Globalization.CultureInfo.InvariantCulture), "8M");
        Assert.True(code == ExitCodes.Ok, error);
        Assert.Contains($"/dev/ublkb{id}: {8 * MiB} bytes", output, StringComparison.Ordinal);
        Assert.Equal(8 * MiB, new FileInfo(file).Length);
        Assert.Equal(8 * MiB, _f.Factory.Resized[id]);
        Assert.Contains($"\"size\":\"{8 * MiB}\"", Record(id), StringComparison.Ordinal);
    }

    [Fact]
    public void ShrinkNeedsAllowShrinkAndThenCutsTheFile()
    {
        (uint id, string file) = AddDevice();
        string n = id.ToString(System.Globalization.CultureInfo.InvariantCulture);
        (int code, _, string error) = _f.Run("resize", n, "2M");
        Assert.Equal(ExitCodes.Usage, code);
        Assert.Contains("smaller than device", error, StringComparison.Ordinal);
        Assert.Contains("--allow-shrink", error, StringComparison.Ordinal);
        Assert.Equal(4 * MiB, new FileInfo(file).Length);
        Assert.False(_f.Factory.Resized.ContainsKey(id));

        (code, _, error) = _f.Run("resize", n, "2M", "--allow-shrink");
        Assert.True(code == ExitCodes.Ok, error);
        Assert.Equal(2 * MiB, new FileInfo(file).Length);
        Assert.Equal(2 * MiB, _f.Factory.Resized[id]);
    }

    [Theory]
    [InlineData("4194817", ExitCodes.Usage, "not a whole number of 512-byte blocks")]
    [InlineData("lots", ExitCodes.Usage, "is not a size")]
    public void ABadSizeChangesNothing(string size, int exit, string message)
    {
        (uint id, string file) = AddDevice();
        (int code, string output, string error) = _f.Run("resize", id.ToString(System.Globalization.CultureInfo.InvariantCulture), size);
        Assert.Equal(exit, code);
        Assert.Equal("", output);
        Assert.Contains(message, error, StringComparison.Ordinal);
        Assert.Equal(4 * MiB, new FileInfo(file).Length);
        Assert.False(_f.Factory.Resized.ContainsKey(id));
    }

    [Fact]
    public void AnUnknownDeviceIsRefused()
    {
        AddDevice();
        (int code, _, string error) = _f.Run("resize", "77", "8M");
        Assert.Equal(ExitCodes.Usage, code);
        Assert.Contains("no device 77", error, StringComparison.Ordinal);
    }

    [Fact]
    public void WithoutUpdateSizeResizeExits69AndChangesNothing()
    {
        (uint id, string file) = AddDevice(granted: UblkFeatures.CmdIoctlEncode | UblkFeatures.UserRecovery | UblkFeatures.UserRecoveryReissue);
        (int code, _, string error) = _f.Run("resize", id.ToString(System.Globalization.CultureInfo.InvariantCulture), "8M");
        Assert.Equal(ExitCodes.Unavailable, code);
        Assert.Contains("UBLK_F_UPDATE_SIZE", error, StringComparison.Ordinal);
        Assert.Equal(4 * MiB, new FileInfo(file).Length);
        Assert.DoesNotContain("8388608", Record(id), StringComparison.Ordinal);
    }

    [Fact]
    public void DelRefusesAnOpenDeviceUnlessForced()
    {
        (uint id, _) = AddDevice();
        string n = id.ToString(System.Globalization.CultureInfo.InvariantCulture);
        _f.Factory.Open[id] = true;
        (int code, _, string error) = _f.Run("del", n);
        Assert.Equal(ExitCodes.InUse, code);
        Assert.Contains($"device {id} is open or mounted", error, StringComparison.Ordinal);
        Assert.Contains("--force", error, StringComparison.Ordinal);
        Assert.True(_f.Factory.Kernel.ContainsKey(id), "a refused del stopped the device");
        Assert.Contains($"/dev/ublkb{id}", _f.Run("list").Out, StringComparison.Ordinal);

        (code, _, error) = _f.Run("del", n, "--force");
        Assert.True(code == ExitCodes.Ok, error);
        Assert.False(_f.Factory.Kernel.ContainsKey(id));
    }

    [Fact]
    public void DelOfAnUnusedDeviceGoesThroughTryStop()
    {
        (uint id, _) = AddDevice();
        (int code, _, string error) = _f.Run("del", id.ToString(System.Globalization.CultureInfo.InvariantCulture));
        Assert.True(code == ExitCodes.Ok, error);
        Assert.False(_f.Factory.Kernel.ContainsKey(id));
    }

    [Fact]
    public void FailFastRecoveryIsRefusedWhereTheKernelLacksIt()
    {
        _f.Start();
        string file = _f.PathOf("failfast.img");
        (int code, string output, string error) = _f.Run("add", "--file", file, "--size", "4M", "--recovery-io", "fail");
        Assert.Equal(ExitCodes.Unavailable, code);
        Assert.Equal("", output);
        Assert.Contains("UBLK_F_USER_RECOVERY_FAIL_IO", error, StringComparison.Ordinal);
        Assert.False(File.Exists(file), "a refused add created the file");
        Assert.Empty(_f.Factory.Kernel);
    }

    [Fact]
    public void FailFastAndPartitionsReachTheDevice()
    {
        _f.Factory.OfferedFeatures = Modern | UblkFeatures.UserRecoveryFailIo;
        _f.Start();
        (int code, string output, string error) = _f.Run("add", "--file", _f.PathOf("a.img"), "--size", "4M", "--recovery-io", "fail", "--partitions");
        Assert.True(code == ExitCodes.Ok, error);
        uint id = uint.Parse(output.Trim()["/dev/ublkb".Length..], System.Globalization.CultureInfo.InvariantCulture);
        Assert.True(_f.Factory.Created[id].RecoveryFailIo);
        Assert.True(_f.Factory.Created[id].PartitionScan);

        (code, output, error) = _f.Run("add", "--file", _f.PathOf("b.img"), "--size", "4M");
        Assert.True(code == ExitCodes.Ok, error);
        id = uint.Parse(output.Trim()["/dev/ublkb".Length..], System.Globalization.CultureInfo.InvariantCulture);
        Assert.False(_f.Factory.Created[id].RecoveryFailIo);
        Assert.False(_f.Factory.Created[id].PartitionScan);
    }
}
