using System.Diagnostics;
using LoopOrder.Service;
using LoopOrder.Service.Commands;
using LoopOrder.Service.Configuration;
using LoopOrder.Ublk.Tests.Kernel;

namespace LoopOrder.Ublk.Tests.Service;

/// <summary>
/// <c>loop-order serve</c> on a machine without ublk_drv: exit 69 (EX_UNAVAILABLE), a message
/// that says what to load, and no backing file created. The development hosts and CI runners
/// have no ublk, so this runs for real there.
/// </summary>
public sealed class ServeCommandTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("looporder-serve-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static bool HostHasUblk => File.Exists("/dev/ublk-control");

    [Fact]
    public void WithoutUblkServeExits69AndCreatesNothing()
    {
        string file = Path.Combine(_dir, "disk.img");
        var output = new StringWriter();
        var error = new StringWriter();
        int rc = HostHasUblk
            ? ServeCommand.Run(new ServeSettings { Device = new DeviceOptions { File = file, Size = "16M" }, ControlPath = "/nonexistent/ublk-control" }, output, error)
            : Program.Run(["serve", "--file", file, "--size", "16M", "--queues", "2"], output, error);

        Assert.Equal(ExitCodes.Unavailable, rc);
        Assert.Equal(69, rc);
        Assert.Equal(string.Empty, output.ToString());
        Assert.Contains("ublk_drv", error.ToString(), StringComparison.Ordinal);
        Assert.Contains("modprobe ublk_drv", error.ToString(), StringComparison.Ordinal);
        Assert.False(File.Exists(file), "serve must not create the backing file when it cannot create the device");
    }

    [NoUblkFact] // where ublk is present the real executable would create a device; the in-process test covers the path
    public void TheProcessExitCodeIs69()
    {
        // The real executable, as a user runs it: the exit status is what scripts see.
        string dll = Path.Combine(AppContext.BaseDirectory, "loop-order.dll");
        Assert.True(File.Exists(dll), $"{dll} missing");
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardError = true, RedirectStandardOutput = true };
        foreach (string a in new[] { dll, "serve", "--file", Path.Combine(_dir, "x.img"), "--size", "1M" })
        {
            psi.ArgumentList.Add(a);
        }

        using Process p = Process.Start(psi)!;
        string stderr = p.StandardError.ReadToEnd();
        p.WaitForExit();
        Assert.Equal(69, p.ExitCode);
        Assert.Contains("ublk_drv", stderr, StringComparison.Ordinal);
    }

    [Fact]
    public void UsageErrorsExit64()
    {
        var error = new StringWriter();
        Assert.Equal(ExitCodes.Usage, Program.Run(["serve", "--queues", "2"], new StringWriter(), error)); // no --file
        Assert.Equal(ExitCodes.Usage, Program.Run(["serve", "--file", "x", "--ordering", "sometimes"], new StringWriter(), error));
        Assert.Equal(
            ExitCodes.Usage,
            ServeCommand.Run(new ServeSettings { Device = new DeviceOptions { File = Path.Combine(_dir, "y"), Size = "lots" }, ControlPath = "/nonexistent" }, new StringWriter(), error));
    }

    [Theory]
    [InlineData("4096", 4096L)]
    [InlineData("64k", 64L << 10)]
    [InlineData("512M", 512L << 20)]
    [InlineData("512MiB", 512L << 20)]
    [InlineData("4G", 4L << 30)]
    [InlineData("4GB", 4L << 30)]
    [InlineData("1T", 1L << 40)]
    [InlineData("100B", 100L)]
    public void SizesParse(string text, long bytes) => Assert.Equal(bytes, ServeCommand.ParseSize(text));

    [Theory]
    [InlineData("")]
    [InlineData("-1G")]
    [InlineData("1.5G")]
    [InlineData("G")]
    [InlineData("0")]
    [InlineData("99999999999T")]
    public void BadSizesAreRefused(string text) => Assert.Throws<FormatException>(() => ServeCommand.ParseSize(text));
}
