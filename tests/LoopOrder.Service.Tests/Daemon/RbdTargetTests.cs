using System.Net;
using System.Net.Sockets;
using System.Text.Json;
using LoopOrder.Interop.Rbd;
using LoopOrder.Queues.Requests;
using LoopOrder.Queues.Targets.Rbd;
using LoopOrder.Queues.Tests.Rbd;
using LoopOrder.Service.Control;
using LoopOrder.Ublk.Protocol;

namespace LoopOrder.Service.Tests.Daemon;

/// <summary>
/// <c>--target rbd</c> through the command line and the daemon (the kernel faked), against the
/// one-node Ceph cluster tests/ceph/cluster.sh starts: a device is served, recorded with its pool,
/// image and cluster, and reattached by a restarted daemon; every bad input gets its exit code
/// and message, and nothing is created.
/// </summary>
[Collection(CephCollection.Name)]
public sealed class RbdTargetTests(CephTestCluster cluster) : IDisposable
{
    private readonly DaemonFixture _f = new();

    public void Dispose() => _f.Dispose();

    private string Records => Path.Combine(_f.RuntimeDirectory, "devices");

    [Fact]
    public void An_rbd_device_serves_io_is_recorded_with_its_image_and_is_reattached_after_a_crash()
    {
        string image = cluster.CreateImage(2 << 20);
        _f.Start();
        (int code, string output, string error) = _f.Run("add", "--target", "rbd", "--pool", CephTestCluster.Pool, "--image", image, "--conf", cluster.Conf, "--keyring", cluster.Keyring);
        Assert.True(code == 0, error);
        Assert.Equal("/dev/ublkb0", output.Trim());
        Assert.True(_f.Factory.Created[0].UserRecovery, "an RBD image outlives the daemon: the kernel must hold I/O for a restart");
        Assert.True(_f.Factory.Created[0].Discard);
        Assert.Equal(2L << 20, _f.Factory.Created[0].SizeBytes);

        byte[] data = [.. Enumerable.Range(0, 4096).Select(i => (byte)(i * 29))];
        Assert.Equal(4096, Io(0, BlockOp.Write, data));
        Assert.Equal(0, Io(0, BlockOp.Flush, []));
        byte[] back = new byte[4096];
        Assert.Equal(4096, Io(0, BlockOp.Read, back));
        Assert.Equal(data, back);

        string record = File.ReadAllText(Path.Combine(Records, "0.json"));
        Assert.Contains("\"target\":\"rbd\"", record, StringComparison.Ordinal);
        Assert.Contains($"\"image\":\"{image}\"", record, StringComparison.Ordinal);
        Assert.Contains(JsonSerializer.Serialize(cluster.Conf), record, StringComparison.Ordinal);
        (_, string list, _) = _f.Run("list", "--json");
        using (JsonDocument doc = JsonDocument.Parse(list))
        {
            JsonElement d = Assert.Single(doc.RootElement.EnumerateArray());
            Assert.Equal("rbd", d.GetProperty("target").GetString());
            Assert.Equal($"rbd:{CephTestCluster.Pool}/{image}", d.GetProperty("serves").GetString());
        }

        // One image backs one device.
        (code, _, error) = _f.Run("add", "--target", "rbd", "--pool", CephTestCluster.Pool, "--image", image, "--conf", cluster.Conf);
        Assert.NotEqual(0, code);
        Assert.Contains("already served", error, StringComparison.Ordinal);

        // What SIGKILL leaves: the record, and the kernel device quiesced. The next daemon reopens the image.
        string saved = File.ReadAllText(Path.Combine(Records, "0.json"));
        _f.Stop();
        File.WriteAllText(Path.Combine(Records, "0.json"), saved);
        _f.Factory.Kernel[0] = DeviceState.Quiesced;
        _f.Start();
        Assert.Equal([0u], _f.Factory.Recovered.ToArray());
        Array.Clear(back);
        Assert.Equal(4096, Io(0, BlockOp.Read, back));
        Assert.Equal(data, back);
        Assert.Equal(cluster.Export(image).AsSpan(0, 4096).ToArray(), data);
    }

    [Fact]
    public void Resize_sets_the_image_and_a_device_follows_its_image_resized_by_another_client()
    {
        string image = cluster.CreateImage(2 << 20);
        _f.Factory.Granted |= UblkFeatures.UpdateSize;
        _f.Factory.OfferedFeatures |= UblkFeatures.UpdateSize;
        _f.Start();
        (int code, _, string error) = _f.Run("add", "--target", "rbd", "--pool", CephTestCluster.Pool, "--image", image, "--conf", cluster.Conf, "--keyring", cluster.Keyring);
        Assert.True(code == 0, error);

        // loop-order resize: the image grows first, then the device.
        (code, _, error) = _f.Run("resize", "0", "4M");
        Assert.True(code == 0, error);
        Assert.Equal(4L << 20, cluster.ImageSize(image));
        Assert.Equal(4L << 20, _f.Factory.Resized[0]);

        // `rbd resize` by another client: the device follows, growing and shrinking, and serves the new part.
        cluster.ResizeImage(image, 8 << 20);
        WaitForSize(8L << 20);
        byte[] data = [.. Enumerable.Range(0, 4096).Select(i => (byte)(i * 7))];
        Assert.Equal(4096, _f.Factory.Io(0, BlockOp.Write, data, offset: 7 << 20));
        cluster.ResizeImage(image, 6 << 20, shrink: true);
        WaitForSize(6L << 20);
        (_, string list, _) = _f.Run("list", "--json");
        using JsonDocument doc = JsonDocument.Parse(list);
        Assert.Equal(6L << 20, Assert.Single(doc.RootElement.EnumerateArray()).GetProperty("sizeBytes").GetInt64());
    }

    /// <summary>Waits for the fake kernel to be told <paramref name="bytes"/> (a hang guard, not a timed assertion).</summary>
    private void WaitForSize(long bytes)
    {
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (!(_f.Factory.Resized.TryGetValue(0, out long now) && now == bytes))
        {
            Assert.True(DateTime.UtcNow < deadline, $"device 0 did not follow its image to {bytes} bytes (it was told {(_f.Factory.Resized.TryGetValue(0, out long n) ? n : -1)})");
            Thread.Sleep(50);
        }
    }

    [Fact]
    public void Bad_rbd_input_exits_with_its_code_and_creates_nothing()
    {
        string image = cluster.CreateImage(1 << 20);
        string noLock = cluster.CreateImage(1 << 20, exclusiveLock: false);
        string wrongKeyring = Path.Combine(_f.Root, "wrong.keyring");
        CephTestCluster.Run("ceph-authtool", "--create-keyring", wrongKeyring, "--gen-key", "-n", "client.admin");
        string deadConf = Path.Combine(_f.Root, "dead.conf");
        File.WriteAllText(deadConf, $"[global]\nmon host = 127.0.0.1:{FreePort()}\nkeyring = {cluster.Keyring}\n");
        string[] at = ["--conf", cluster.Conf];
        (string[] Args, int Code, string Message)[] cases =
        [
            (["--target", "rbd", "--image", image, .. at], ExitCodes.Usage, "--pool is required with --target rbd"),
            (["--target", "rbd", "--pool", "rbd", .. at], ExitCodes.Usage, "--image is required with --target rbd"),
            (["--target", "rbd", "--pool", "rbd", "--image", "a/b", .. at], ExitCodes.Usage, "may not contain '/'"),
            (["--target", "rbd", "--pool", "rbd", "--image", image, "--conf", "/nonexistent/ceph.conf"], ExitCodes.Usage, "--conf: /nonexistent/ceph.conf does not exist"),
            (["--target", "rbd", "--pool", "rbd", "--image", image, "--rbd-timeout", "0", .. at], ExitCodes.Usage, "--rbd-timeout: '0' is not a number of seconds"),
            (["--target", "rbd", "--pool", "nosuchpool", "--image", image, .. at], ExitCodes.NoInput, "there is no pool 'nosuchpool'"),
            (["--target", "rbd", "--pool", "rbd", "--image", "nosuchimage", .. at], ExitCodes.NoInput, "there is no image 'nosuchimage'"),
            (["--target", "rbd", "--pool", "rbd", "--image", image, "--keyring", wrongKeyring, .. at], ExitCodes.NoPermission, "refused client.admin's credentials"),
            (["--target", "rbd", "--pool", "rbd", "--image", noLock, .. at], ExitCodes.Usage, "lacks the exclusive-lock feature"),
            (["--target", "rbd", "--pool", "rbd", "--image", image, "--size", "2M", .. at], ExitCodes.Usage, "give a smaller --size"),
            (["--target", "rbd", "--pool", "rbd", "--image", image, "--direct-io", .. at], ExitCodes.Usage, "--direct-io"),
            (["--target", "rbd", "--pool", "rbd", "--image", image, "--conf", deadConf, "--rbd-timeout", "2"], ExitCodes.Unavailable, "is the cluster up?"),
        ];
        _f.Start();
        foreach ((string[] args, int expected, string message) in cases)
        {
            (int code, string output, string error) = _f.Run(["add", .. args]);
            Assert.True(code == expected, $"{string.Join(' ', args)}: exit {code} (expected {expected}), {error}");
            Assert.Contains(message, error, StringComparison.Ordinal);
            Assert.Equal("", output);
            Assert.Empty(_f.Factory.Kernel);
            Assert.False(Directory.Exists(Records) && Directory.EnumerateFiles(Records).Any(), "a device record was left");
        }

        // An image another client holds: exit 75, nothing created, and the holder keeps it.
        using var holder = RbdBackend.Open(new RbdBackendOptions
        {
            Image = new RbdOpenOptions { ConfPath = cluster.Conf, Pool = CephTestCluster.Pool, Image = image, Timeout = TimeSpan.FromSeconds(30) },
        });
        (int c, string o, string e) = _f.Run("add", "--target", "rbd", "--pool", "rbd", "--image", image, "--conf", cluster.Conf);
        Assert.True(c == ExitCodes.InUse, $"exit {c}: {e}");
        Assert.Contains("locked by another client", e, StringComparison.Ordinal);
        Assert.Equal("", o);
        Assert.Empty(_f.Factory.Kernel);
        Assert.True(holder.Image.IsLockOwner);
    }

    /// <summary>One request to device <paramref name="id"/> as the kernel would send it; returns its result.</summary>
    private int Io(uint id, BlockOp op, byte[] data) => _f.Factory.Io(id, op, data);

    private static int FreePort()
    {
        using var l = new TcpListener(IPAddress.Loopback, 0);
        l.Start();
        return ((IPEndPoint)l.LocalEndpoint).Port;
    }
}
