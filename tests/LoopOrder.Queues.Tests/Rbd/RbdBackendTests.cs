using System.Globalization;
using System.Net;
using System.Net.Sockets;
using LoopOrder.Queues.Requests;
using LoopOrder.Queues.Targets;
using LoopOrder.Queues.Targets.Rbd;
using LoopOrder.Queues.Tests.Dispatch;
using LoopOrder.Queues.Tests.Nbd;
using Microsoft.Extensions.Logging.Abstractions;

namespace LoopOrder.Queues.Tests.Rbd;

/// <summary>
/// The RBD target's backend through the whole engine (no ublk) against a one-node Ceph cluster
/// the tests start (tests/ceph/cluster.sh): every op landing in the image (read back past
/// LoopOrder with `rbd export`), many requests in flight, the exclusive lock keeping a second
/// client out, every bad input refused with its kind and nothing left open, and a cluster that
/// stops answering failing requests with EIO (never a silent success) and latching flushes.
/// </summary>
[Collection(CephCollection.Name)]
public sealed class RbdBackendTests(CephTestCluster cluster)
{
    private const int Block = 4096;

    [Fact]
    public void Reads_writes_fua_discard_and_write_zeroes_land_in_the_image()
    {
        string image = cluster.CreateImage(4 << 20);
        using (var d = new RbdDevice(RbdDevice.Options(cluster, image)))
        {
            Assert.Equal(4 << 20, d.Backend.Length);
            Assert.Equal("false", d.Backend.Image.CacheSetting);
            Assert.True(d.Backend.Image.IsLockOwner, "a writable device holds the image's exclusive lock");
            for (int i = 0; i < 8; i++)
            {
                Assert.Equal(Block, d.Write((long)i * Block, NbdDevice.Pattern(i, Block), i == 3 ? RequestFlags.Fua : RequestFlags.None));
            }

            for (int i = 0; i < 8; i++)
            {
                Assert.Equal(NbdDevice.Pattern(i, Block), d.Read((long)i * Block, Block));
            }

            // A write into the image's second object, then discard and write-zeroes over written blocks.
            Assert.Equal(Block, d.Write(3 << 20, NbdDevice.Pattern(9, Block)));
            Assert.Equal(Block, d.Op(BlockOp.Discard, 2 * Block, Block));
            Assert.Equal(Block, d.Op(BlockOp.WriteZeroes, 5 * Block, Block, RequestFlags.NoUnmap));
            Assert.Equal(new byte[Block], d.Read(2 * Block, Block));
            Assert.Equal(new byte[Block], d.Read(5 * Block, Block));
            Assert.Equal(0, d.Flush());
        }

        byte[] exported = cluster.Export(image);
        Assert.Equal(4 << 20, exported.Length);
        for (int i = 0; i < 8; i++)
        {
            byte[] expected = i is 2 or 5 ? new byte[Block] : NbdDevice.Pattern(i, Block);
            Assert.Equal(expected, exported.AsSpan(i * Block, Block).ToArray());
        }

        Assert.Equal(NbdDevice.Pattern(9, Block), exported.AsSpan(3 << 20, Block).ToArray());
    }

    [Fact]
    public void Resize_sets_the_image_size_and_a_resize_from_another_client_is_reported_and_followed()
    {
        string image = cluster.CreateImage(4 << 20);
        using var d = new RbdDevice(RbdDevice.Options(cluster, image));
        using var resized = new SemaphoreSlim(0);
        d.Backend.StorageResized += () => resized.Release();

        // Ours: the image grows with the device, and the new part is served.
        d.Backend.Resize(8 << 20);
        Assert.Equal(8 << 20, d.Backend.Length);
        Assert.Equal(8 << 20, cluster.ImageSize(image));
        d.Engine.Sequencer.SetCapacity(8 << 20);
        Assert.Equal(Block, d.Write(7 << 20, NbdDevice.Pattern(1, Block)));
        Assert.Equal(0, d.Flush());

        // Another client's: librbd (the lock holder) carries it out and tells the watch.
        while (resized.Wait(0))
        {
        }

        cluster.ResizeImage(image, 12 << 20);
        Assert.True(resized.Wait(TimeSpan.FromSeconds(60)), "no StorageResized after rbd resize");
        Assert.Equal(12 << 20, d.Backend.StorageLength);
        Assert.Equal(8 << 20, d.Backend.Length);
        d.Backend.Follow(12 << 20);
        Assert.Equal(12 << 20, d.Backend.Length);

        // A shrink cuts the image (what lies past the end is gone); the data before it stays.
        Assert.Equal(Block, d.Write(1 << 20, NbdDevice.Pattern(2, Block)));
        Assert.Equal(0, d.Flush());
        d.Engine.Sequencer.SetCapacity(6 << 20);
        d.Backend.Resize(6 << 20);
        Assert.Equal(6 << 20, d.Backend.Length);
        Assert.Equal(6 << 20, cluster.ImageSize(image));
        Assert.Equal(NbdDevice.Pattern(2, Block), d.Read(1 << 20, Block));
    }

    [Fact]
    public void A_read_only_device_is_not_resized_and_its_image_stays()
    {
        string image = cluster.CreateImage(4 << 20);
        using var d = new RbdDevice(RbdDevice.Options(cluster, image, readOnly: true));
        Assert.Throws<InvalidOperationException>(() => d.Backend.Resize(8 << 20));
        Assert.Equal(4 << 20, d.Backend.Length);
        Assert.Equal(4 << 20, cluster.ImageSize(image));
    }

    [Fact]
    public void With_librbds_cache_off_a_flush_completes_without_rbd_aio_flush_and_an_image_override_turning_it_on_sends_every_flush()
    {
        // The default: rbd_cache=false on the connection, no override: a completed write is on the OSDs.
        string plain = cluster.CreateImage(4 << 20);
        using (var d = new RbdDevice(RbdDevice.Options(cluster, plain)))
        {
            Assert.False(d.Backend.FlushNeeded, d.Backend.Image.CacheConfiguration);
            Assert.Contains("rbd_cache=false", d.Backend.Image.CacheConfiguration, StringComparison.Ordinal);
            Assert.Equal(Block, d.Write(0, NbdDevice.Pattern(1, Block)));
            Assert.Equal(Block, d.Write(Block, NbdDevice.Pattern(2, Block), RequestFlags.Fua));
            Assert.Equal(0, d.Flush());
            Assert.Equal(0, d.Backend.FlushesSent);
        }

        Assert.Equal(NbdDevice.Pattern(2, Block), cluster.Export(plain).AsSpan(Block, Block).ToArray());

        // An image-level override turns librbd's cache back on, whatever the connection says: then
        // every flush and every FUA write's flush goes to librbd.
        string cached = cluster.CreateImage(4 << 20);
        CephTestCluster.Run("rbd", "-c", cluster.Conf, "config", "image", "set", CephTestCluster.Pool + "/" + cached, "rbd_cache", "true");
        using (var d = new RbdDevice(RbdDevice.Options(cluster, cached)))
        {
            Assert.True(d.Backend.FlushNeeded, d.Backend.Image.CacheConfiguration);
            Assert.Equal(Block, d.Write(0, NbdDevice.Pattern(3, Block)));
            Assert.Equal(Block, d.Write(Block, NbdDevice.Pattern(4, Block), RequestFlags.Fua));
            Assert.Equal(1, d.Backend.FlushesSent);
            Assert.Equal(0, d.Flush());
            Assert.Equal(2, d.Backend.FlushesSent);
        }

        Assert.Equal(NbdDevice.Pattern(4, Block), cluster.Export(cached).AsSpan(Block, Block).ToArray());
    }

    [Fact]
    public void Many_requests_in_flight_complete_and_a_flush_after_them_covers_them_all()
    {
        string image = cluster.CreateImage(8 << 20);
        const int N = 96;
        using (var d = new RbdDevice(RbdDevice.Options(cluster, image)))
        {
            var started = new List<(BlockRequest Request, CountingCompletion Done)>();
            for (int i = 0; i < N; i++)
            {
                // Spread over the image's two objects, 64 KiB each, distinct tags as the kernel gives them.
                started.Add(d.StartWrite((long)i * 65536 % (8 << 20), NbdDevice.Pattern(i, 65536), tag: i));
            }

            var flush = d.StartFlush(N);
            foreach (var s in started)
            {
                Assert.Equal(65536, d.Wait(s));
            }

            Assert.Equal(0, d.Wait(flush));
        }

        byte[] exported = cluster.Export(image);
        for (int i = 0; i < N; i++)
        {
            long at = (long)i * 65536 % (8 << 20);
            int last = i + ((8 << 20) / 65536) < N ? i + ((8 << 20) / 65536) : i;
            Assert.Equal(NbdDevice.Pattern(last, 65536), exported.AsSpan((int)at, 65536).ToArray());
        }
    }

    [Fact]
    public void A_second_client_is_refused_the_image_while_the_first_holds_its_exclusive_lock()
    {
        string image = cluster.CreateImage(1 << 20);
        using (var first = new RbdDevice(RbdDevice.Options(cluster, image)))
        {
            Assert.Equal(Block, first.Write(0, NbdDevice.Pattern(1, Block)));
            var refused = Assert.Throws<RbdLockException>(() => RbdBackend.Open(RbdDevice.Options(cluster, image)));
            Assert.True(refused.Held);
            Assert.Contains("locked by another client", refused.Message, StringComparison.Ordinal);

            // Through the target: exit 75 (in use); the first still serves.
            var e = Assert.Throws<TargetException>(() => Open(image));
            Assert.Equal(TargetFailure.InUse, e.Failure);
            Assert.Equal(NbdDevice.Pattern(1, Block), first.Read(0, Block));
            Assert.Equal(0, first.Flush());
        }

        // Released with the first device: the next one gets it.
        using var next = new RbdDevice(RbdDevice.Options(cluster, image));
        Assert.True(next.Backend.Image.IsLockOwner);
        Assert.Equal(NbdDevice.Pattern(1, Block), next.Read(0, Block));
    }

    [Fact]
    public void A_read_only_device_takes_no_lock_and_serves_beside_a_writer()
    {
        string image = cluster.CreateImage(1 << 20);
        using var writer = new RbdDevice(RbdDevice.Options(cluster, image));
        Assert.Equal(Block, writer.Write(0, NbdDevice.Pattern(4, Block)));
        Assert.Equal(0, writer.Flush());
        using var reader = new RbdDevice(RbdDevice.Options(cluster, image, readOnly: true));
        Assert.True(reader.Backend.IsReadOnly);
        Assert.Equal(NbdDevice.Pattern(4, Block), reader.Read(0, Block));
    }

    [Fact]
    public void Bad_input_is_refused_with_its_kind_and_leaves_nothing_open()
    {
        string image = cluster.CreateImage(1 << 20);
        string noLock = cluster.CreateImage(1 << 20, exclusiveLock: false);

        Assert.Equal(TargetFailure.NoInput, Assert.Throws<TargetException>(() => Open(image, pool: "nosuchpool")).Failure);
        var missing = Assert.Throws<TargetException>(() => Open("nosuchimage"));
        Assert.Equal(TargetFailure.NoInput, missing.Failure);
        Assert.Contains("no image 'nosuchimage'", missing.Message, StringComparison.Ordinal);

        // A key the cluster never issued, and a client it does not know.
        string wrongKeyring = Path.Combine(cluster.Dir, "wrong.keyring");
        CephTestCluster.Run("ceph-authtool", "--create-keyring", wrongKeyring, "--gen-key", "-n", "client.admin");
        var wrong = Assert.Throws<TargetException>(() => Open(image, keyring: wrongKeyring));
        Assert.Equal(TargetFailure.NoPermission, wrong.Failure);
        Assert.Contains("credentials", wrong.Message, StringComparison.Ordinal);
        Assert.Equal(TargetFailure.NoPermission, Assert.Throws<TargetException>(() => Open(image, id: "nobody")).Failure);

        var unlocked = Assert.Throws<TargetException>(() => Open(noLock));
        Assert.Equal(TargetFailure.Usage, unlocked.Failure);
        Assert.Contains("exclusive-lock", unlocked.Message, StringComparison.Ordinal);
        Assert.Equal(TargetFailure.Usage, Assert.Throws<TargetException>(() => Open(image, size: 2 << 20)).Failure);

        // A monitor address nobody answers on: refused after the timeout, as unavailable.
        string deadConf = Path.Combine(cluster.Dir, "dead.conf");
        File.WriteAllText(deadConf, $"[global]\nmon host = 127.0.0.1:{FreePort()}\nkeyring = {cluster.Keyring}\n");
        var dead = Assert.Throws<TargetException>(() => Open(image, conf: deadConf, timeout: "2"));
        Assert.Equal(TargetFailure.Unavailable, dead.Failure);

        // None of that left a lock behind: the image opens.
        using var d = new RbdDevice(RbdDevice.Options(cluster, image));
        Assert.True(d.Backend.Image.IsLockOwner);
    }

    [Fact]
    public void A_cluster_that_stops_answering_fails_requests_with_EIO_after_the_timeout_and_latches_flushes_until_reopened()
    {
        string image = cluster.CreateImage(1 << 20);
        using (var d = new RbdDevice(RbdDevice.Options(cluster, image, timeoutSeconds: 3)))
        {
            Assert.Equal(Block, d.Write(0, NbdDevice.Pattern(1, Block)));
            Assert.Equal(0, d.Flush());
            cluster.PauseOsd();
            try
            {
                // Waits the timeout, then fails: never acknowledged as written.
                Assert.Equal(-5, d.Write(Block, NbdDevice.Pattern(2, Block)));
                Assert.Equal(-5, d.Flush());
            }
            finally
            {
                cluster.ResumeOsd();
            }

            // The cluster is back: requests are served again, but no flush may promise the failed write.
            Assert.Equal(NbdDevice.Pattern(1, Block), d.Read(0, Block));
            Assert.Equal(Block, d.Write(2 * Block, NbdDevice.Pattern(3, Block)));
            Assert.Equal(-5, d.Flush());
        }

        // Reopened (a restarted daemon's recovery): the lock is taken again, flushes work, and what was acknowledged is there.
        using var again = new RbdDevice(RbdDevice.Options(cluster, image));
        Assert.Equal(NbdDevice.Pattern(1, Block), again.Read(0, Block));
        Assert.Equal(NbdDevice.Pattern(3, Block), again.Read(2 * Block, Block));
        Assert.Equal(0, again.Flush());
    }

    [Fact]
    public void A_lock_left_by_a_killed_client_is_broken_once_its_watch_times_out_and_the_device_takes_the_image()
    {
        string image = cluster.CreateImage(64 << 20);

        // `rbd bench` writing takes the exclusive lock; SIGKILLed, it leaves the lock and its watch behind.
        var psi = new System.Diagnostics.ProcessStartInfo("rbd", ["-c", cluster.Conf, "bench", "--io-type", "write", "--io-total", "64G", "--io-size", "4096", CephTestCluster.Pool + "/" + image])
        {
            RedirectStandardOutput = false,
            RedirectStandardError = true,
        };
        using (var bench = System.Diagnostics.Process.Start(psi)!)
        {
            // Holding the lock once `rbd lock ls` lists it (bench's own output is buffered in a pipe).
            while (!CephTestCluster.Run("rbd", "-c", cluster.Conf, "lock", "ls", CephTestCluster.Pool + "/" + image).Contains("1 exclusive lock", StringComparison.Ordinal))
            {
                if (bench.HasExited)
                {
                    Assert.Fail("rbd bench ended before it took the lock: " + bench.StandardError.ReadToEnd());
                }

                Thread.Sleep(100);
            }

            bench.Kill();
            bench.WaitForExit();
        }

        Assert.Contains("1 exclusive lock", CephTestCluster.Run("rbd", "-c", cluster.Conf, "lock", "ls", CephTestCluster.Pool + "/" + image), StringComparison.Ordinal);

        // librbd's rbd_lock_acquire waits until the dead client's watch times out (10 s in the test
        // cluster, 30 s by default), then breaks its lock and blocklists it: no second writer remains.
        using var d = new RbdDevice(RbdDevice.Options(cluster, image));
        Assert.True(d.Backend.Image.IsLockOwner);
        Assert.Equal(Block, d.Write(0, NbdDevice.Pattern(7, Block)));
        Assert.Equal(0, d.Flush());
    }

    private OpenedTarget Open(string image, string pool = CephTestCluster.Pool, string? keyring = null, string? id = null, string? conf = null, string? timeout = null, long? size = null)
    {
        var values = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase)
        {
            [RbdTarget.PoolOption] = pool,
            [RbdTarget.ImageOption] = image,
            [RbdTarget.ConfOption] = conf ?? cluster.Conf,
        };
        if (keyring is not null)
        {
            values[RbdTarget.KeyringOption] = keyring;
        }

        if (id is not null)
        {
            values[RbdTarget.IdOption] = id;
        }

        values[RbdTarget.TimeoutOption] = timeout ?? "10";
        var target = new RbdTarget();
        var request = new TargetRequest { Values = target.Normalise(values), Size = size };
        Assert.Null(target.Problem(request));
        OpenedTarget opened = target.Open(request, new TargetContext(NullLogger.Instance, () => "test"));

        // Only reached by a test that expects a refusal when it is wrong: close what opened.
        opened.Backend.Dispose();
        return opened;
    }

    private static int FreePort()
    {
        using var l = new TcpListener(IPAddress.Loopback, 0);
        l.Start();
        return ((IPEndPoint)l.LocalEndpoint).Port;
    }
}
