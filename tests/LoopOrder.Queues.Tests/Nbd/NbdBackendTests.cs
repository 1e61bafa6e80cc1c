using LoopOrder.Interop;
using LoopOrder.Queues.Ordering;
using LoopOrder.Queues.Requests;
using LoopOrder.Queues.Targets.Nbd;
using Microsoft.Extensions.Logging;

namespace LoopOrder.Queues.Tests.Nbd;

/// <summary>
/// The NBD target's backend through the whole engine (no ublk) against nbdkit started by the
/// test: every op over several connections, the flush across connections, and the faults (a
/// killed server fails what was in flight with EIO, a flush whose coverage was lost fails, a
/// server gone for good fails the device closed).
/// </summary>
public sealed class NbdBackendTests
{
    private const int Block = 4096;
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(60);

    [Fact]
    public void Reads_writes_fua_discard_and_write_zeroes_land_in_the_file_over_two_connections()
    {
        string dir = NbdTestServer.NewDir();
        string disk = CreateDisk(dir, 1 << 20);
        using NbdTestServer server = NbdTestServer.NbdkitIn(dir, "file", disk);
        using var d = new NbdDevice(new NbdBackendOptions { Uri = server.Uri(), Connections = 2 });
        Assert.True(d.Backend.Export.CanMultiConn, "nbdkit's file plugin states multi-conn");
        Assert.Equal(1 << 20, d.Backend.Length);

        for (int i = 0; i < 8; i++)
        {
            Assert.Equal(Block, d.Write((long)i * Block, NbdDevice.Pattern(i, Block), i == 3 ? RequestFlags.Fua : RequestFlags.None));
        }

        // Both connections carried writes, and each read sees the writes before it whichever carries it.
        Assert.True(d.Backend.Set[0].CommandsSent > 0 && d.Backend.Set[1].CommandsSent > 0);
        for (int i = 0; i < 8; i++)
        {
            Assert.Equal(NbdDevice.Pattern(i, Block), d.Read((long)i * Block, Block));
        }

        Assert.Equal(0, d.Op(BlockOp.Discard, 2 * Block, Block));
        Assert.Equal(0, d.Op(BlockOp.WriteZeroes, 5 * Block, Block, RequestFlags.NoUnmap));
        Assert.Equal(new byte[Block], d.Read(2 * Block, Block));
        Assert.Equal(new byte[Block], d.Read(5 * Block, Block));
        Assert.Equal(0, d.Flush());

        byte[] file = File.ReadAllBytes(disk);
        for (int i = 0; i < 8; i++)
        {
            byte[] expected = i is 2 or 5 ? new byte[Block] : NbdDevice.Pattern(i, Block);
            Assert.Equal(expected, file.AsSpan(i * Block, Block).ToArray());
        }
    }

    [Fact]
    public void Without_multi_conn_a_device_flush_goes_to_every_connection_that_carried_a_write()
    {
        using NbdTestServer server = NbdTestServer.Nbdkit("--filter=multi-conn", "memory", "size=1M", "multi-conn-mode=disable");
        using var d = new NbdDevice(new NbdBackendOptions { Uri = server.Uri(), Connections = 3 });
        Assert.False(d.Backend.Export.CanMultiConn);
        for (int i = 0; i < 6; i++)
        {
            Assert.Equal(Block, d.Write((long)i * Block, NbdDevice.Pattern(i, Block)));
        }

        Assert.Equal(0, d.Flush());
        Assert.Equal([1L, 1L, 1L], Flushes(d.Backend.Set));

        // Nothing written since: nothing to flush anywhere.
        Assert.Equal(0, d.Flush());
        Assert.Equal([1L, 1L, 1L], Flushes(d.Backend.Set));
    }

    [Fact]
    public void A_killed_server_fails_the_write_in_flight_with_EIO_and_every_later_flush()
    {
        string dir = NbdTestServer.NewDir();
        string disk = CreateDisk(dir, 1 << 20);

        // Writes take 30 s on the server: the one submitted is in flight when the server dies.
        using NbdTestServer server = NbdTestServer.NbdkitIn(dir, "--filter=delay", "file", disk, "delay-write=30");
        using var d = new NbdDevice(new NbdBackendOptions { Uri = server.Uri(), Connections = 2 });
        var started = d.StartWrite(0, NbdDevice.Pattern(1, Block));
        Assert.True(SpinWait.SpinUntil(() => d.Backend.Set[0].InFlight + d.Backend.Set[1].InFlight > 0, Patience));
        server.Kill();

        Assert.Equal(Errno.EIO.ToResult(), d.Wait(started));
        Assert.Equal(Errno.EIO.ToResult(), d.Flush());
        Assert.Equal(Errno.EIO.ToResult(), d.Write(Block, NbdDevice.Pattern(2, Block)));
        Assert.Equal(Errno.EIO.ToResult(), d.TryRead(0, Block).Result);
        Assert.Equal(Errno.EIO.ToResult(), d.Flush());
    }

    [Fact]
    public void After_a_reconnect_a_flush_fails_when_a_dropped_connection_carried_unflushed_writes()
    {
        string dir = NbdTestServer.NewDir();
        string disk = CreateDisk(dir, 1 << 20);
        string[] args = ["--filter=multi-conn", "file", disk, "multi-conn-mode=disable"];
        NbdTestServer first = NbdTestServer.NbdkitIn(dir, args);
        using var d = new NbdDevice(new NbdBackendOptions { Uri = first.Uri(), Connections = 2 });
        Assert.Equal(Block, d.Write(0, NbdDevice.Pattern(1, Block)));
        Assert.Equal(Block, d.Write(Block, NbdDevice.Pattern(2, Block)));
        Assert.Equal(0, d.Flush());

        // Acknowledged, not flushed: then the server dies with nothing in flight.
        Assert.Equal(Block, d.Write(2 * Block, NbdDevice.Pattern(3, Block)));
        first.Kill();
        File.Delete(first.Socket);
        using NbdTestServer second = NbdTestServer.NbdkitIn(dir, args);
        Assert.True(SpinWait.SpinUntil(() => d.Backend.Reconnects >= 2, Patience), "both connections reconnect");

        // The device works again, no write failed (the Sequencer latched nothing), and yet the
        // flush fails: the acknowledged write may have died in the server's cache.
        Assert.False(d.Engine.Sequencer.IsErrorLatched);
        Assert.Equal(NbdDevice.Pattern(1, Block), d.Read(0, Block));
        Assert.Equal(Block, d.Write(3 * Block, NbdDevice.Pattern(4, Block)));
        Assert.True(d.Backend.Set.CoverageLost);
        Assert.Equal(Errno.EIO.ToResult(), d.Flush());
        Assert.Equal(Errno.EIO.ToResult(), d.Flush());
        first.Dispose();
    }

    [Fact]
    public void A_reconnect_after_a_flush_covered_everything_keeps_flushes_working()
    {
        string dir = NbdTestServer.NewDir();
        string disk = CreateDisk(dir, 1 << 20);
        NbdTestServer first = NbdTestServer.NbdkitIn(dir, "file", disk);
        using var d = new NbdDevice(new NbdBackendOptions { Uri = first.Uri(), Connections = 2 });
        Assert.Equal(Block, d.Write(0, NbdDevice.Pattern(1, Block)));
        Assert.Equal(0, d.Flush());
        first.Kill();
        File.Delete(first.Socket);
        using NbdTestServer second = NbdTestServer.NbdkitIn(dir, "file", disk);
        Assert.True(SpinWait.SpinUntil(() => d.Backend.Reconnects >= 2, Patience), "both connections reconnect");

        Assert.False(d.Backend.Set.CoverageLost);
        Assert.Equal(Block, d.Write(Block, NbdDevice.Pattern(2, Block)));
        Assert.Equal(0, d.Flush());
        Assert.Equal(NbdDevice.Pattern(2, Block), File.ReadAllBytes(disk).AsSpan(Block, Block).ToArray());
        first.Dispose();
    }

    [Fact]
    public void A_server_gone_for_good_fails_the_device_closed_with_a_critical_log()
    {
        using NbdTestServer server = NbdTestServer.Nbdkit("memory", "size=1M");
        var log = new ListLogger();
        using var d = new NbdDevice(new NbdBackendOptions
        {
            Uri = server.Uri(),
            Connections = 2,
            Logger = log,
            ReconnectGiveUp = TimeSpan.FromMilliseconds(500),
            ReconnectFirstDelay = TimeSpan.FromMilliseconds(50),
        });
        Assert.Equal(Block, d.Write(0, NbdDevice.Pattern(1, Block)));
        server.Kill();

        Assert.True(SpinWait.SpinUntil(() => d.Backend.FailedClosed, Patience), "the device fails closed");
        Assert.Equal(Errno.EIO.ToResult(), d.TryRead(0, Block).Result);
        Assert.Equal(Errno.EIO.ToResult(), d.Write(Block, NbdDevice.Pattern(2, Block)));
        Assert.Equal(Errno.EIO.ToResult(), d.Flush());
        Assert.Contains(log.Entries, e => e.Level == LogLevel.Critical && e.Message.Contains("is gone", StringComparison.Ordinal));
    }

    [Fact]
    public void Without_flush_on_the_server_ordering_none_serves_and_a_flush_completes()
    {
        using NbdTestServer server = NbdTestServer.Nbdkit("eval", "get_size=echo 1M", "can_write=exit 0", "pwrite=cat >/dev/null", "pread=dd if=/dev/zero count=$3 iflag=count_bytes status=none");
        using var d = new NbdDevice(new NbdBackendOptions { Uri = server.Uri(), Connections = 1 }, OrderingMode.None);
        Assert.False(d.Backend.Export.CanFlush);
        Assert.Equal(Block, d.Write(0, NbdDevice.Pattern(1, Block)));
        Assert.Equal(0, d.Flush());
    }

    internal static string CreateDisk(string dir, long size)
    {
        string disk = Path.Combine(dir, "disk.img");
        using (var f = new FileStream(disk, FileMode.CreateNew))
        {
            f.SetLength(size);
        }

        return disk;
    }

    private static long[] Flushes(NbdConnectionSet set) => [.. Enumerable.Range(0, set.Count).Select(i => set[i].FlushesSent)];

    internal sealed class ListLogger : ILogger
    {
        private readonly List<(LogLevel Level, string Message)> _entries = [];

        public List<(LogLevel Level, string Message)> Entries
        {
            get
            {
                lock (_entries)
                {
                    return [.. _entries];
                }
            }
        }

        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            lock (_entries)
            {
                _entries.Add((logLevel, formatter(state, exception)));
            }
        }
    }
}
