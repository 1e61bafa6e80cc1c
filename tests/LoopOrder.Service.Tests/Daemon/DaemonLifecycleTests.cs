using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using LoopOrder.Service.Control;
using LoopOrder.Service.Daemon;
using LoopOrder.Ublk.Queue;
using Microsoft.Extensions.Hosting.Systemd;

namespace LoopOrder.Service.Tests.Daemon;

/// <summary>The daemon over a fake kernel: the control socket, add/list/stats/del, records, graceful stop, recovery at start, systemd notify.</summary>
public sealed class DaemonLifecycleTests : IDisposable
{
    private readonly DaemonFixture _f = new();

    public void Dispose() => _f.Dispose();

    private string Records => Path.Combine(_f.RuntimeDirectory, "devices");

    [Fact]
    public void Two_devices_are_added_listed_counted_and_one_deleted_through_the_socket()
    {
        _f.Start();
        (int c1, string o1, string e1) = _f.Run("add", "--file", _f.PathOf("a.img"), "--size", "2M", "--queues", "2", "--depth", "16");
        (int c2, string o2, _) = _f.Run("add", "--file", _f.PathOf("b.img"), "--size", "1M", "--ordering", "strict", "--block-size", "4096");
        Assert.True(c1 == 0, e1);
        Assert.Equal(0, c2);
        Assert.Equal("/dev/ublkb0", o1.Trim());
        Assert.Equal("/dev/ublkb1", o2.Trim());
        Assert.Equal(2L << 20, new FileInfo(_f.PathOf("a.img")).Length);

        (int lc, string list, _) = _f.Run("list", "--json");
        Assert.Equal(0, lc);
        using (JsonDocument doc = JsonDocument.Parse(list))
        {
            JsonElement[] devices = [.. doc.RootElement.EnumerateArray()];
            Assert.Equal(2, devices.Length);
            Assert.Equal(_f.PathOf("a.img"), devices[0].GetProperty("file").GetString());
            Assert.Equal(2, devices[0].GetProperty("queues").GetInt32());
            Assert.Equal(16, devices[0].GetProperty("depth").GetInt32());
            Assert.Equal(2L << 20, devices[0].GetProperty("sizeBytes").GetInt64());
            Assert.Equal("strict", devices[1].GetProperty("ordering").GetString());
            Assert.Equal(4096, devices[1].GetProperty("blockSize").GetInt32());
            Assert.Equal("live", devices[1].GetProperty("state").GetString());
        }

        // Each device is recorded for recovery, with its options.
        Assert.True(File.Exists(Path.Combine(Records, "0.json")));
        DeviceRecord record = JsonSerializer.Deserialize(File.ReadAllText(Path.Combine(Records, "1.json")), ControlJson.Default.DeviceRecord)!;
        Assert.Equal(_f.PathOf("b.img"), record.Options.File);
        Assert.Equal(4096, record.Options.BlockSize);

        (int sc, string stats, _) = _f.Run("stats", "0", "--json");
        Assert.Equal(0, sc);
        using (JsonDocument doc = JsonDocument.Parse(stats))
        {
            Assert.Equal(2, doc.RootElement.GetProperty("queues").GetArrayLength());
        }

        Assert.Equal(0, _f.Run("stats", "0").Code);

        (int dc, string deleted, _) = _f.Run("del", "0");
        Assert.Equal(0, dc);
        Assert.Contains("/dev/ublkb0", deleted, StringComparison.Ordinal);
        Assert.False(File.Exists(Path.Combine(Records, "0.json")));
        Assert.Equal([1u], _f.Factory.Kernel.Keys.ToArray());
        Assert.True(File.Exists(_f.PathOf("a.img")), "del must keep the backing file");

        (_, string text, _) = _f.Run("list");
        Assert.Contains("/dev/ublkb1", text, StringComparison.Ordinal);
        Assert.DoesNotContain("/dev/ublkb0", text, StringComparison.Ordinal);
    }

    [Fact]
    public void A_graceful_stop_deletes_every_device_record_and_the_socket()
    {
        _f.Start();
        Assert.Equal(0, _f.Run("add", "--file", _f.PathOf("a.img"), "--size", "1M").Code);
        Assert.Equal(0, _f.Run("add", "--file", _f.PathOf("b.img"), "--size", "1M").Code);

        _f.Stop();

        Assert.Empty(_f.Factory.Kernel);
        Assert.Empty(Directory.EnumerateFiles(Records));
        Assert.False(File.Exists(Path.Combine(_f.RuntimeDirectory, "control.sock")));
        Assert.Equal(ExitCodes.Unavailable, _f.Run("add", "--file", _f.PathOf("c.img"), "--size", "1M").Code);
    }

    [Fact]
    public void Configured_devices_start_with_the_daemon()
    {
        string file = _f.PathOf("cfg.img");
        _f.WriteConfig($$"""{ "LoopOrder": { "Devices": [ { "File": "{{file}}", "Size": "1M", "Queues": 2, "Ordering": "strict" } ] } }""");
        _f.Start();

        Assert.Equal(2, _f.Factory.Created[0].Queues);
        Assert.True(_f.Factory.Created[0].UserRecovery, "devices must be added with USER_RECOVERY");
        Assert.Contains("strict", _f.Run("list").Out, StringComparison.Ordinal);
    }

    [Fact]
    public void A_restarted_daemon_recovers_recorded_devices_and_drops_stale_records()
    {
        _f.Start();
        Assert.Equal(0, _f.Run("add", "--file", _f.PathOf("a.img"), "--size", "1M").Code);
        Assert.Equal(0, _f.Run("add", "--file", _f.PathOf("b.img"), "--size", "1M").Code);

        // What SIGKILL leaves: the records, and the kernel's devices, quiesced. Copy the records
        // aside, stop (which deletes them), then put the kernel and the records back.
        string saved = _f.PathOf("saved");
        Directory.CreateDirectory(saved);
        foreach (string r in Directory.EnumerateFiles(Records))
        {
            File.Copy(r, Path.Combine(saved, Path.GetFileName(r)));
        }

        _f.Stop();
        foreach (string r in Directory.EnumerateFiles(saved))
        {
            File.Copy(r, Path.Combine(Records, Path.GetFileName(r)));
        }

        _f.Factory.Kernel[0] = DeviceState.Quiesced; // device 1 vanished meanwhile (deleted by hand)

        _f.Start();

        Assert.Equal([0u], _f.Factory.Recovered.ToArray());
        Assert.False(File.Exists(Path.Combine(Records, "1.json")), "a record of a device the kernel lost must go");
        (_, string list, _) = _f.Run("list", "--json");
        using JsonDocument doc = JsonDocument.Parse(list);
        JsonElement only = Assert.Single(doc.RootElement.EnumerateArray());
        Assert.Equal(_f.PathOf("a.img"), only.GetProperty("file").GetString());
        Assert.Equal(DeviceState.Live, _f.Factory.Kernel[0]);
    }

    [Fact]
    public void Systemd_hears_ready_only_once_devices_serve_and_the_socket_listens_then_stopping()
    {
        var systemd = new RecordingNotifier(() => File.Exists(Path.Combine(_f.RuntimeDirectory, "control.sock")) && _f.Factory.Kernel.Count == 1);
        UnderSystemd(systemd, watchdog: null);

        _f.Start(new DaemonLaunch { Devices = [DaemonFixture.Device(_f.PathOf("a.img"), "1M")] });
        string[] started = systemd.States;
        Assert.Contains("STATUS=serving 1 device(s)", started);
        Assert.Equal("READY=1", started[^1]);
        Assert.True(systemd.ServingAtReady, "READY=1 came before the device served and the control socket listened");

        _f.Stop();
        Assert.Equal("STOPPING=1", systemd.States[^1]);
    }

    [Fact]
    public void Systemd_gets_watchdog_pings_when_it_asks_for_them()
    {
        var systemd = new RecordingNotifier(() => true);
        UnderSystemd(systemd, watchdog: TimeSpan.FromMilliseconds(20));

        _f.Start();
        Assert.True(systemd.WatchdogPinged.Wait(TimeSpan.FromSeconds(30)), "no WATCHDOG=1");
    }

    [Fact]
    public void Without_systemd_there_is_no_notifier_and_no_ready_message_is_needed()
    {
        _f.Start();
        Assert.Null(_f.Services.GetService(typeof(ISystemdNotifier)));
        Assert.Equal(0, _f.Run("list").Code);
    }

    /// <summary>The fixture's context, as if systemd had started the daemon with <paramref name="watchdog"/> (WatchdogSec=).</summary>
    private void UnderSystemd(RecordingNotifier systemd, TimeSpan? watchdog) => _f.Context = new ServiceContext
    {
        RuntimeDirectory = _f.Context.RuntimeDirectory,
        ConfigDirectory = _f.Context.ConfigDirectory,
        Factory = _f.Context.Factory,
        ReadWorkingDirectoryConfig = false,
        SystemdNotifier = systemd,
        WatchdogInterval = watchdog,
    };

    /// <summary>What systemd would receive, and whether the daemon served at READY=1.</summary>
    private sealed class RecordingNotifier(Func<bool> serving) : ISystemdNotifier
    {
        private readonly List<string> _states = [];

        public bool IsEnabled => true;

        public bool ServingAtReady { get; private set; }

        public ManualResetEventSlim WatchdogPinged { get; } = new();

        public string[] States
        {
            get
            {
                lock (_states)
                {
                    return [.. _states.Where(s => s != "WATCHDOG=1")];
                }
            }
        }

        public void Notify(ServiceState state)
        {
            string text = state.ToString();
            if (text == "READY=1")
            {
                ServingAtReady = serving();
            }

            if (text == "WATCHDOG=1")
            {
                WatchdogPinged.Set();
            }

            lock (_states)
            {
                _states.Add(text);
            }
        }
    }

    [Fact]
    public void Bad_requests_on_the_socket_get_64_and_the_connection_survives()
    {
        _f.Start();
        using var s = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        s.Connect(new UnixDomainSocketEndPoint(Path.Combine(_f.RuntimeDirectory, "control.sock")));
        using var stream = new NetworkStream(s);
        using var writer = new StreamWriter(stream) { AutoFlush = true, NewLine = "\n" };
        using var reader = new StreamReader(stream);

        writer.WriteLine("not json");
        Assert.Contains("\"exitCode\":64", reader.ReadLine(), StringComparison.Ordinal);
        writer.WriteLine("""{"op":"frobnicate"}""");
        Assert.Contains("unknown request", reader.ReadLine(), StringComparison.Ordinal);
        writer.WriteLine("""{"op":"list"}""");
        Assert.Contains("\"exitCode\":0", reader.ReadLine(), StringComparison.Ordinal);
    }

    [Fact]
    public void The_socket_and_runtime_directory_are_root_only()
    {
        _f.Start();
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(Path.Combine(_f.RuntimeDirectory, "control.sock")));
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute, File.GetUnixFileMode(_f.RuntimeDirectory));
    }

    [Theory]
    [InlineData(1, 1e6, 1e6)]
    [InlineData(1000, 50, 50)]
    public void Latency_percentiles_come_within_a_bucket_of_the_truth(int n, double usFirst, double usRest)
    {
        var h = new LatencyHistogram();
        long Ticks(double us) => (long)(us * System.Diagnostics.Stopwatch.Frequency / 1e6);
        h.Record(Ticks(usFirst));
        for (int i = 1; i < n; i++)
        {
            h.Record(Ticks(usRest));
        }

        double p50 = LatencyHistogram.Percentile(h.Snapshot(), 50)!.Value.TotalMicroseconds;
        Assert.InRange(p50, usRest, usRest * 1.26);
        Assert.Null(LatencyHistogram.Percentile(new long[LatencyHistogram.BucketCount], 50));
    }

    [Fact]
    public void Percentiles_separate_a_slow_tail()
    {
        var h = new LatencyHistogram();
        for (int i = 0; i < 990; i++)
        {
            h.Record(1000);
        }

        for (int i = 0; i < 10; i++)
        {
            h.Record(1_000_000);
        }

        long[] s = h.Snapshot();
        Assert.InRange(LatencyHistogram.Percentile(s, 50)!.Value.Ticks * System.Diagnostics.Stopwatch.Frequency / TimeSpan.TicksPerSecond, 1000, 1300);
        Assert.InRange(LatencyHistogram.Percentile(s, 99.9)!.Value.Ticks * System.Diagnostics.Stopwatch.Frequency / TimeSpan.TicksPerSecond, 1_000_000, 1_300_000);
        for (long t = 1; t < 1L << 40; t = (t * 3) + 1)
        {
            int b = LatencyHistogram.BucketOf(t);
            Assert.True(LatencyHistogram.UpperBoundTicks(b) >= t && (b == 0 || LatencyHistogram.UpperBoundTicks(b - 1) < t), $"ticks {t} in bucket {b}");
        }
    }
}
