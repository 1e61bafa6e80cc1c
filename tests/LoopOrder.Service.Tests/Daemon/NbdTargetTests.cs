using System.Runtime.InteropServices;
using System.Text.Json;
using LoopOrder.Queues.Requests;
using LoopOrder.Queues.Tests.Nbd;
using LoopOrder.Service.Control;

namespace LoopOrder.Service.Tests.Daemon;

/// <summary>
/// <c>--target nbd</c> through the command line and the daemon (the kernel faked), against real
/// NBD servers the tests start: a device is served and recorded with its URI and connections and
/// reattached by a restarted daemon; every bad input gets its exit code and message, and nothing
/// is created.
/// </summary>
public sealed class NbdTargetTests : IDisposable
{
    private readonly DaemonFixture _f = new();

    public void Dispose() => _f.Dispose();

    private string Records => Path.Combine(_f.RuntimeDirectory, "devices");

    private (int Code, string Out, string Err) Via(string entry, params string[] args)
    {
        if (entry == "add")
        {
            if (_f.Daemon is null)
            {
                _f.Start();
            }

            return _f.Run(["add", .. args]);
        }

        var run = Task.Run(() => _f.Run(["serve", .. args]));
        Assert.True(run.Wait(TimeSpan.FromMinutes(2)), "serve started instead of refusing the input");
        return run.Result;
    }

    private void AssertNothingCreated()
    {
        Assert.Empty(_f.Factory.Kernel);
        Assert.False(Directory.Exists(Records) && Directory.EnumerateFiles(Records).Any(), "a device record was left");
    }

    [Fact]
    public void An_nbd_device_serves_io_is_recorded_with_its_uri_and_connections_and_is_reattached_after_a_crash()
    {
        using NbdTestServer server = NbdTestServer.Nbdkit("memory", "size=2M");
        string uri = server.Uri().Text;
        _f.Start();
        (int code, string output, string error) = _f.Run("add", "--target", "nbd", "--nbd", uri, "--connections", "2");
        Assert.True(code == 0, error);
        Assert.Equal("/dev/ublkb0", output.Trim());
        Assert.True(_f.Factory.Created[0].UserRecovery, "an NBD export outlives the daemon: the kernel must hold I/O for a restart");
        Assert.True(_f.Factory.Created[0].Discard);
        Assert.Equal(2L << 20, _f.Factory.Created[0].SizeBytes);

        byte[] data = [.. Enumerable.Range(0, 4096).Select(i => (byte)(i * 13))];
        Assert.Equal(4096, Io(0, BlockOp.Write, data));
        Assert.Equal(0, Io(0, BlockOp.Flush, []));
        byte[] back = new byte[4096];
        Assert.Equal(4096, Io(0, BlockOp.Read, back));
        Assert.Equal(data, back);

        string record = File.ReadAllText(Path.Combine(Records, "0.json"));
        Assert.Contains("\"target\":\"nbd\"", record, StringComparison.Ordinal);
        Assert.Contains(JsonSerializer.Serialize(uri), record, StringComparison.Ordinal);
        Assert.Contains("\"connections\":\"2\"", record, StringComparison.Ordinal);
        (_, string list, _) = _f.Run("list", "--json");
        using (JsonDocument doc = JsonDocument.Parse(list))
        {
            JsonElement d = Assert.Single(doc.RootElement.EnumerateArray());
            Assert.Equal("nbd", d.GetProperty("target").GetString());
            Assert.Equal(uri, d.GetProperty("serves").GetString());
        }

        // One export backs one device.
        (code, _, error) = _f.Run("add", "--target", "nbd", "--nbd", uri);
        Assert.NotEqual(0, code);
        Assert.Contains("already served", error, StringComparison.Ordinal);

        // What SIGKILL leaves: the record, and the kernel device quiesced. The next daemon reconnects.
        string saved = File.ReadAllText(Path.Combine(Records, "0.json"));
        _f.Stop();
        File.WriteAllText(Path.Combine(Records, "0.json"), saved);
        _f.Factory.Kernel[0] = DeviceState.Quiesced;
        _f.Start();
        Assert.Equal([0u], _f.Factory.Recovered.ToArray());
        Array.Clear(back);
        Assert.Equal(4096, Io(0, BlockOp.Read, back));
        Assert.Equal(data, back);
    }

    [Theory]
    [InlineData("add")]
    [InlineData("serve")]
    public void Bad_nbd_input_exits_with_its_code_and_creates_nothing(string entry)
    {
        using NbdTestServer memory = NbdTestServer.Nbdkit("memory", "size=1M");
        using NbdTestServer named = NbdTestServer.QemuNbd(1 << 20, exportName: "disk");
        using NbdTestServer noFlush = NbdTestServer.Nbdkit("eval", "get_size=echo 1M", "can_write=exit 0", "pwrite=cat >/dev/null", "pread=dd if=/dev/zero count=$3 iflag=count_bytes status=none");
        string missing = Path.Combine(_f.Root, "no-server", "nbd.sock");
        (string[] Args, int Code, string Message)[] cases =
        [
            (["--target", "nbd"], ExitCodes.Usage, "--nbd is required with --target nbd"),
            (["--target", "nbd", "--nbd", "http://example.com/disk"], ExitCodes.Usage, "unknown scheme 'http'"),
            (["--target", "nbd", "--nbd", "nbd+unix:///disk"], ExitCodes.Usage, "nbd+unix needs ?socket=PATH"),
            (["--target", "nbd", "--nbd", "nbd+unix:///disk?socket=relative.sock"], ExitCodes.Usage, "must be an absolute path"),
            (["--target", "nbd", "--nbd", memory.Uri().Text, "--connections", "0"], ExitCodes.Usage, "--connections: '0' is not a number from 1 to 64"),
            (["--target", "nbd", "--nbd", "nbd+unix:///?socket=" + missing], ExitCodes.Unavailable, "is the NBD server running?"),
            (["--target", "nbd", "--nbd", "nbd+unix:///?socket=" + missing, "--connections", "2"], ExitCodes.Unavailable, "is the NBD server running?"),
            (["--target", "nbd", "--nbd", named.Uri("nope").Text], ExitCodes.NoInput, "check the export name"),
            (["--target", "nbd", "--nbd", memory.Uri().Text, "--size", "2M"], ExitCodes.Usage, "the export holds 1048576 bytes, less than the 2097152 asked for; give a smaller --size"),
            (["--target", "nbd", "--nbd", noFlush.Uri().Text], ExitCodes.Usage, "does not take NBD_CMD_FLUSH"),
            (["--target", "nbd", "--nbd", noFlush.Uri().Text, "--ordering", "strict"], ExitCodes.Usage, "serve it with --ordering none"),
            (["--target", "nbd", "--nbd", memory.Uri().Text, "--direct-io"], ExitCodes.Usage, "--direct-io: the nbd target has no cache to bypass"),
        ];
        foreach ((string[] args, int expected, string message) in cases)
        {
            (int code, string output, string error) = Via(entry, args);
            Assert.True(code == expected, $"{string.Join(' ', args)}: exit {code} (expected {expected}), {error}");
            Assert.Contains(message, error, StringComparison.Ordinal);
            Assert.Equal("", output);
            AssertNothingCreated();
        }
    }

    [Fact]
    public void A_server_without_flush_is_served_with_ordering_none()
    {
        using NbdTestServer noFlush = NbdTestServer.Nbdkit("eval", "get_size=echo 1M", "can_write=exit 0", "pwrite=cat >/dev/null", "pread=dd if=/dev/zero count=$3 iflag=count_bytes status=none");
        _f.Start();
        (int code, _, string error) = _f.Run("add", "--target", "nbd", "--nbd", noFlush.Uri().Text, "--ordering", "none");
        Assert.True(code == 0, error);
        Assert.Equal(0, Io(0, BlockOp.Flush, []));
    }

    /// <summary>One request to device <paramref name="id"/> as the kernel would send it; returns its result.</summary>
    private int Io(uint id, BlockOp op, byte[] data) => _f.Factory.Io(id, op, data);
}
