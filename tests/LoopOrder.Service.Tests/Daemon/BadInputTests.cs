using System.Diagnostics;

namespace LoopOrder.Service.Tests.Daemon;

/// <summary>
/// Every bad input gets its exit code and a message that says what is wrong, and nothing is
/// created or changed: through <c>add</c> to a running daemon, and through <c>serve --file</c>.
/// The kernel is faked (the host has no ublk); files, locks and the control socket are real.
/// </summary>
public sealed class BadInputTests : IDisposable
{
    private readonly DaemonFixture _f = new();

    public void Dispose() => _f.Dispose();

    private (int Code, string Out, string Err) Add(params string[] args)
    {
        if (_f.Daemon is null)
        {
            _f.Start();
        }

        return _f.Run(["add", .. args]);
    }

    private (int Code, string Out, string Err) Serve(params string[] args)
    {
        // Every case here must fail at start; one that starts would serve until a signal.
        var run = Task.Run(() => _f.Run(["serve", .. args]));
        Assert.True(run.Wait(TimeSpan.FromMinutes(2)), "serve started instead of refusing the input");
        return run.Result;
    }

    private void AssertNoDevice()
    {
        Assert.Empty(_f.Factory.Kernel);
        Assert.False(Directory.Exists(Path.Combine(_f.RuntimeDirectory, "devices")) && Directory.EnumerateFiles(Path.Combine(_f.RuntimeDirectory, "devices")).Any(), "a device record was left");
    }

    public static TheoryData<string> Entrypoints => ["add", "serve"];

    private (int Code, string Out, string Err) Via(string entry, params string[] args) => entry == "add" ? Add(args) : Serve(args);

    [Theory]
    [MemberData(nameof(Entrypoints))]
    public void A_missing_file_without_size_exits_66_and_creates_nothing(string entry)
    {
        string file = _f.PathOf("missing.img");
        (int code, string output, string error) = Via(entry, "--file", file);

        Assert.Equal(ExitCodes.NoInput, code);
        Assert.Contains("does not exist", error, StringComparison.Ordinal);
        Assert.Contains("--size", error, StringComparison.Ordinal);
        Assert.Equal("", output);
        Assert.False(File.Exists(file));
        AssertNoDevice();
    }

    [Theory]
    [MemberData(nameof(Entrypoints))]
    public void A_file_smaller_than_the_size_exits_66_and_is_not_resized(string entry)
    {
        string file = _f.PathOf("small.img");
        File.WriteAllBytes(file, new byte[1 << 20]);
        (int code, _, string error) = Via(entry, "--file", file, "--size", "4M");

        Assert.Equal(ExitCodes.NoInput, code);
        Assert.Contains(file, error, StringComparison.Ordinal);
        Assert.Contains("fewer than the requested size", error, StringComparison.Ordinal);
        Assert.Equal(1 << 20, new FileInfo(file).Length);
        AssertNoDevice();
    }

    [Theory]
    [MemberData(nameof(Entrypoints))]
    public void A_directory_exits_66(string entry)
    {
        string dir = _f.PathOf("adir");
        Directory.CreateDirectory(dir);
        (int code, _, string error) = Via(entry, "--file", dir, "--size", "1M");

        Assert.Equal(ExitCodes.NoInput, code);
        Assert.Contains("directory", error, StringComparison.Ordinal);
        Assert.True(Directory.Exists(dir));
        AssertNoDevice();
    }

    [Theory]
    [MemberData(nameof(Entrypoints))]
    public void A_file_that_cannot_be_written_exits_77_and_suggests_read_only(string entry)
    {
        // Root ignores permission bits; the immutable attribute refuses root too (EPERM).
        string file = _f.PathOf("immutable.img");
        File.WriteAllBytes(file, new byte[1 << 20]);
        Chattr("+i", file);
        try
        {
            (int code, _, string error) = Via(entry, "--file", file);

            Assert.Equal(ExitCodes.NoPermission, code);
            Assert.Contains(file, error, StringComparison.Ordinal);
            Assert.Contains("--read-only", error, StringComparison.Ordinal);
            AssertNoDevice();
        }
        finally
        {
            Chattr("-i", file);
        }
    }

    [Theory]
    [MemberData(nameof(Entrypoints))]
    public void A_file_locked_by_another_server_exits_66(string entry)
    {
        string file = _f.PathOf("locked.img");
        File.WriteAllBytes(file, new byte[1 << 20]);
        using Process holder = Process.Start(new ProcessStartInfo("flock", ["-x", file, "sleep", "30"]))!;
        try
        {
            WaitUntilLocked(file);
            (int code, _, string error) = Via(entry, "--file", file);

            Assert.Equal(ExitCodes.NoInput, code);
            Assert.Contains("in use", error, StringComparison.Ordinal);
            AssertNoDevice();
        }
        finally
        {
            holder.Kill();
            holder.WaitForExit();
        }
    }

    [Fact]
    public void The_same_file_twice_is_refused_with_66_and_the_first_device_is_untouched()
    {
        string file = _f.PathOf("one.img");
        Assert.Equal(0, Add("--file", file, "--size", "1M").Code);
        string link = _f.PathOf("alias.img");
        File.CreateSymbolicLink(link, file);

        foreach (string path in new[] { file, link })
        {
            (int code, _, string error) = _f.Run("add", "--file", path);
            Assert.Equal(ExitCodes.NoInput, code);
            Assert.Contains("already served by /dev/ublkb0", error, StringComparison.Ordinal);
        }

        Assert.Single(_f.Factory.Kernel);
        Assert.Equal(1 << 20, new FileInfo(file).Length);
    }

    [Fact]
    public void Two_configured_devices_on_one_file_exit_78_and_create_nothing()
    {
        string file = _f.PathOf("cfg.img");
        _f.WriteConfig($$"""{ "LoopOrder": { "Devices": [ { "File": "{{file}}", "Size": "1M" }, { "File": "{{file}}" } ] } }""");
        (int code, _, string error) = Serve();

        Assert.Equal(ExitCodes.Config, code);
        Assert.Contains("another device", error, StringComparison.Ordinal);
        Assert.Contains("appsettings.json", error, StringComparison.Ordinal);
        Assert.False(File.Exists(file));
        AssertNoDevice();
    }

    [Theory]
    [InlineData("\"Queues\": 0", "Queues")]
    [InlineData("\"Depth\": 9999", "Depth")]
    [InlineData("\"Size\": \"lots\"", "size")]
    [InlineData("\"BlockSize\": 1000", "block-size")]
    [InlineData("\"Queues\": \"many\"", "Queues")]
    public void Invalid_configured_devices_exit_78(string setting, string named)
    {
        string file = _f.PathOf("cfg.img");
        _f.WriteConfig($$"""{ "LoopOrder": { "Devices": [ { "File": "{{file}}", {{setting}} } ] } }""");
        (int code, _, string error) = Serve();

        Assert.Equal(ExitCodes.Config, code);
        Assert.Contains(named, error, StringComparison.OrdinalIgnoreCase);
        Assert.False(File.Exists(file));
        AssertNoDevice();
    }

    [Theory]
    [InlineData("--size", "lots", "--size")]
    [InlineData("--size", "0", "--size")]
    [InlineData("--size", "1000", "multiple of the block size")]
    [InlineData("--queues", "0", "--queues")]
    [InlineData("--queues", "65", "--queues")]
    [InlineData("--depth", "0", "--depth")]
    [InlineData("--depth", "4097", "--depth")]
    [InlineData("--block-size", "1024", "--block-size")]
    public void Invalid_numbers_exit_64_and_create_nothing(string option, string value, string message)
    {
        foreach (string entry in new[] { "add", "serve" })
        {
            string file = _f.PathOf($"new-{entry}.img");
            string[] args = option == "--size" ? ["--file", file, option, value] : ["--file", file, option, value, "--size", "1M"];
            (int code, string output, string error) = Via(entry, args);

            Assert.Equal(ExitCodes.Usage, code);
            Assert.Contains(message, error, StringComparison.Ordinal);
            Assert.Equal("", output);
            Assert.False(File.Exists(file), $"{entry} created the file");
            AssertNoDevice();
        }
    }

    [Fact]
    public void Add_without_a_daemon_exits_69_and_says_how_to_start_one()
    {
        string file = _f.PathOf("x.img");
        (int code, _, string error) = _f.Run("add", "--file", file, "--size", "1M");

        Assert.Equal(ExitCodes.Unavailable, code);
        Assert.Equal($"loop-order add: no loop-order daemon at {Socket} (no such socket); start one: loop-order serve (as root; or: systemctl start loop-order).", error.Trim());
        Assert.False(File.Exists(file));
    }

    [Theory]
    [InlineData("del", "0")]
    [InlineData("stats", "0")]
    [InlineData("recover", "0")]
    [InlineData("resize", "0", "2M")]
    [InlineData("snapshot", "0", "a")]
    [InlineData("snapshot", "list", "0")]
    [InlineData("snapshot", "delete", "0", "a")]
    public void Every_client_command_without_a_daemon_says_so_in_plain_words(params string[] args)
    {
        (int code, _, string error) = _f.Run(args);

        Assert.Equal(ExitCodes.Unavailable, code);
        Assert.Contains($"no loop-order daemon at {Socket} (no such socket); start one: loop-order serve", error, StringComparison.Ordinal);
        Assert.DoesNotContain("Cannot assign requested address", error, StringComparison.Ordinal);
    }

    [Fact]
    public void A_stale_socket_a_killed_daemon_left_is_told_apart()
    {
        // What a SIGKILLed daemon leaves: the socket file, and nobody listening on it. A socket
        // bound and never listening gives connect(2) the same ECONNREFUSED (disposing it would
        // unlink the file: .NET removes the paths its sockets bound).
        Directory.CreateDirectory(_f.RuntimeDirectory);
        using var dead = new System.Net.Sockets.Socket(System.Net.Sockets.AddressFamily.Unix, System.Net.Sockets.SocketType.Stream, System.Net.Sockets.ProtocolType.Unspecified);
        dead.Bind(new System.Net.Sockets.UnixDomainSocketEndPoint(Socket));

        (int code, _, string error) = _f.Run("add", "--file", _f.PathOf("x.img"), "--size", "1M");

        Assert.Equal(ExitCodes.Unavailable, code);
        Assert.Contains($"no loop-order daemon at {Socket} (the path is there but nobody listens: connection refused", error, StringComparison.Ordinal);
        Assert.Contains("start one: loop-order serve", error, StringComparison.Ordinal);
    }

    [Fact]
    public void A_socket_path_that_is_a_plain_file_is_no_daemon_either()
    {
        Directory.CreateDirectory(_f.RuntimeDirectory);
        File.WriteAllText(Socket, "not a socket");

        (int code, _, string error) = _f.Run("stats", "0");

        Assert.Equal(ExitCodes.Unavailable, code);
        Assert.Contains($"no loop-order daemon at {Socket} (the path is there but nobody listens", error, StringComparison.Ordinal);
        Assert.Contains("start one: loop-order serve", error, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(LoopOrder.Interop.Errno.EACCES)]
    [InlineData(LoopOrder.Interop.Errno.EPERM)]
    public void Permission_denied_exits_77_and_says_to_use_sudo(LoopOrder.Interop.Errno errno)
    {
        // Root (which the tests may run as) is never refused, so the mapping is checked directly.
        ServiceException e = Control.ControlClient.ConnectFailure("/run/loop-order/control.sock", errno);

        Assert.Equal(ExitCodes.NoPermission, e.ExitCode);
        Assert.Equal("not allowed to talk to the loop-order daemon at /run/loop-order/control.sock (permission denied): its control socket is root's; run this with sudo.", e.Message);
    }

    private string Socket => Path.Combine(_f.RuntimeDirectory, "control.sock");

    [Fact]
    public void Serve_without_ublk_exits_69_before_touching_the_file()
    {
        _f.Factory.IsAvailable = false;
        string file = _f.PathOf("x.img");
        (int code, _, string error) = Serve("--file", file, "--size", "1M");

        Assert.Equal(ExitCodes.Unavailable, code);
        Assert.Contains("modprobe ublk_drv", error, StringComparison.Ordinal);
        Assert.False(File.Exists(file));
    }

    [Fact]
    public void Del_needs_an_id_or_all_and_unknown_ids_exit_64()
    {
        _f.Start();
        Assert.Equal(ExitCodes.Usage, _f.Run("del").Code);
        (int code, _, string error) = _f.Run("del", "7");
        Assert.Equal(ExitCodes.Usage, code);
        Assert.Contains("no device 7", error, StringComparison.Ordinal);
        Assert.Equal(ExitCodes.Usage, _f.Run("stats", "7").Code);
        Assert.Equal(ExitCodes.NoInput, _f.Run("recover", "7").Code);
    }

    private static void Chattr(string flag, string file)
    {
        using Process p = Process.Start(new ProcessStartInfo("chattr", [flag, file]) { RedirectStandardError = true })!;
        string err = p.StandardError.ReadToEnd();
        p.WaitForExit();
        Assert.True(p.ExitCode == 0, $"chattr {flag} {file}: {err}");
    }

    private static void WaitUntilLocked(string file)
    {
        // Poll with flock -n until the holder has the lock (the child starts asynchronously).
        for (int i = 0; i < 500; i++)
        {
            using Process probe = Process.Start(new ProcessStartInfo("flock", ["-n", file, "true"]))!;
            probe.WaitForExit();
            if (probe.ExitCode != 0)
            {
                return;
            }

            Thread.Sleep(10);
        }

        Assert.Fail("the lock holder never took the lock");
    }
}
