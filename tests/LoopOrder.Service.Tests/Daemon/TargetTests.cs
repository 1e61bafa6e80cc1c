using System.CommandLine;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using System.Text.Json;
using LoopOrder.Queues.Requests;
using LoopOrder.Queues.Targets;
using LoopOrder.Queues.Targets.File;
using LoopOrder.Queues.Targets.Memory;
using LoopOrder.Service.Commands;
using LoopOrder.Service.Configuration;
using LoopOrder.Service.Control;

namespace LoopOrder.Service.Tests.Daemon;

/// <summary>
/// Targets through every entry point: the registry, the command line (old command lines parse
/// as before), validation, the control socket, appsettings.json, the records (old ones still
/// read), and the memory target's refusal to be reattached by a restarted daemon.
/// </summary>
public sealed class TargetTests : IDisposable
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

    private static DeviceOptions Parse(params string[] args)
    {
        var set = new DeviceOptionSet();
        var command = new Command("x");
        foreach (Option o in set.All)
        {
            command.Options.Add(o);
        }

        ParseResult parse = command.Parse(args);
        Assert.Empty(parse.Errors);
        return set.Read(parse);
    }

    private static string Json(DeviceOptions o) => JsonSerializer.Serialize(o, ControlJson.Default.DeviceOptions);

    [Fact]
    public void The_registry_has_file_memory_nbd_and_rbd_with_file_the_default_and_option_names_unique()
    {
        Assert.Equal(["file", "memory", "nbd", "rbd"], TargetRegistry.All.Select(t => t.Name));
        Assert.Equal("file", TargetRegistry.DefaultName);
        Assert.IsType<MemoryTarget>(TargetRegistry.Find("MEMORY"));
        Assert.Null(TargetRegistry.Find("iscsi"));
        string[] names = [.. TargetRegistry.All.SelectMany(t => t.Options).Select(o => o.Name)];
        Assert.Equal(names.Length, names.Distinct(StringComparer.OrdinalIgnoreCase).Count());
        Assert.IsType<FileTarget>(TargetRegistry.Owner("FILE"));

        // What the service acts on: a file survives its daemon and has a cache; memory neither.
        Assert.True(TargetRegistry.Find("file")!.Capabilities.HasFlag(TargetCapabilities.Persistent | TargetCapabilities.DirectIo | TargetCapabilities.SubmitterLane));
        Assert.False(TargetRegistry.Find("memory")!.Capabilities.HasFlag(TargetCapabilities.Persistent));
        Assert.False(TargetRegistry.Find("memory")!.Capabilities.HasFlag(TargetCapabilities.DirectIo));
        Assert.True(TargetRegistry.Find("memory")!.Capabilities.HasFlag(TargetCapabilities.SubmitterLane));

        // An RBD image outlives the daemon and needs flushes; librbd has no cache to bypass here.
        Assert.True(TargetRegistry.Find("rbd")!.Capabilities.HasFlag(TargetCapabilities.Persistent | TargetCapabilities.NeedsFlush | TargetCapabilities.Discard));
        Assert.False(TargetRegistry.Find("rbd")!.Capabilities.HasFlag(TargetCapabilities.DirectIo));
        Assert.IsType<LoopOrder.Queues.Targets.Rbd.RbdTarget>(TargetRegistry.Owner("pool"));
    }

    [Fact]
    public void Old_command_lines_parse_as_before_into_the_file_target()
    {
        string cwd = Directory.GetCurrentDirectory();
        DeviceOptions old = Parse("--file", "disk.img", "--size", "1G", "--queues", "2", "--ordering", "strict");
        Assert.Equal("file", old.Target);
        Assert.Equal(Path.Combine(cwd, "disk.img"), old.File);
        Assert.Equal(Path.Combine(cwd, "disk.img"), old.TargetOptions["file"]);
        Assert.Single(old.TargetOptions);
        Assert.Equal("1G", old.Size);
        Assert.Equal(2, old.Queues);

        // The same device spelled with the alias, or with the target named: the same options.
        Assert.Equal(Json(old), Json(Parse("-f", "disk.img", "-s", "1G", "-q", "2", "--ordering", "strict")));
        Assert.Equal(Json(old), Json(Parse("--target", "file", "--file", "disk.img", "--size", "1G", "--queues", "2", "--ordering", "strict")));
        Assert.Equal(Json(old), Json(new DeviceOptions { File = Path.Combine(cwd, "disk.img"), Size = "1G", Queues = 2, Ordering = Queues.Ordering.OrderingMode.Strict }));

        DeviceOptions memory = Parse("--target", "memory", "--size", "256M");
        Assert.Equal("memory", memory.Target);
        Assert.Empty(memory.TargetOptions);
        Assert.Null(memory.File);
        Assert.Null(DeviceOptionsValidator.Problem(memory));
    }

    [Theory]
    [InlineData("add")]
    [InlineData("serve")]
    public void Bad_target_input_exits_64_and_creates_nothing(string entry)
    {
        string file = _f.PathOf("never.img");
        (string[] Args, string Message)[] cases =
        [
            (["--target", "nosuch", "--size", "1M"], "--target: 'nosuch' is not a target; give one of file, memory, nbd, rbd"),
            (["--target", "memory", "--file", file, "--size", "1M"], "--file is an option of the file target, not of --target memory"),
            (["--target", "memory"], "--size is required with --target memory"),
            (["--target", "memory", "--size", "1M", "--direct-io"], "--direct-io: the memory target has no cache to bypass"),
            (["--target", "memory", "--size", "1M", "--zero-copy", "on"], "--zero-copy: the memory target's data does not live in a file"),
            (["--target", "file", "--size", "1M"], "--file is required"),
        ];
        foreach ((string[] args, string message) in cases)
        {
            (int code, string output, string error) = Via(entry, args);
            Assert.True(code == ExitCodes.Usage, $"{string.Join(' ', args)}: exit {code}, {error}");
            Assert.Contains(message, error, StringComparison.Ordinal);
            Assert.Equal("", output);
        }

        Assert.False(File.Exists(file));
        Assert.Empty(_f.Factory.Kernel);
        Assert.False(Directory.Exists(Records) && Directory.EnumerateFiles(Records).Any(), "a device record was left");
    }

    [Fact]
    public void Recovery_is_accepted_and_ignored_and_hidden_from_help()
    {
        // Parsed (no usage error): the missing file is what refuses the device, as without --recovery.
        (int code, _, string error) = Via("serve", "--recovery", "--file", _f.PathOf("missing.img"));
        Assert.Equal(ExitCodes.NoInput, code);
        Assert.Contains("does not exist", error, StringComparison.Ordinal);
        Assert.Equal(ExitCodes.NoInput, Via("serve", "--recovery", "true", "--file", _f.PathOf("missing.img")).Code);

        using var help = new StringWriter();
        Assert.Equal(0, Program.Run(["serve", "--help"], help, new StringWriter()));
        Assert.DoesNotMatch(@"--recovery(?![-\w])", help.ToString()); // --recovery-io is another option
        Assert.Contains("--target", help.ToString(), StringComparison.Ordinal);
        Assert.Contains("memory = RAM", help.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public void A_memory_device_is_added_without_user_recovery_holds_its_bytes_and_lists_as_memory()
    {
        _f.Start();
        (int code, string output, string error) = _f.Run("add", "--target", "memory", "--size", "1M");
        Assert.True(code == 0, error);
        Assert.Equal("/dev/ublkb0", output.Trim());
        Assert.False(_f.Factory.Created[0].UserRecovery, "a memory device must not ask the kernel to hold I/O for a restart");
        Assert.Equal(1L << 20, _f.Factory.Created[0].SizeBytes);

        // A write, then a read of the same sectors, as the kernel would send them.
        byte[] data = [.. Enumerable.Range(0, 4096).Select(i => (byte)(i * 7))];
        Assert.Equal(4096, Io(0, BlockOp.Write, data));
        byte[] back = new byte[4096];
        Assert.Equal(4096, Io(0, BlockOp.Read, back));
        Assert.Equal(data, back);
        Assert.Equal(0, Io(0, BlockOp.Flush, []));

        (_, string list, _) = _f.Run("list", "--json");
        using JsonDocument doc = JsonDocument.Parse(list);
        JsonElement d = Assert.Single(doc.RootElement.EnumerateArray());
        Assert.Equal("memory", d.GetProperty("target").GetString());
        Assert.Equal("memory", d.GetProperty("serves").GetString());
        Assert.False(d.TryGetProperty("file", out _), "a memory device has no file");
        Assert.Contains("memory", _f.Run("list").Out, StringComparison.Ordinal);

        // Two memory devices never share storage.
        Assert.Equal(0, _f.Run("add", "--target", "memory", "--size", "1M").Code);
    }

    [Fact]
    public void A_restarted_daemon_deletes_a_memory_device_instead_of_reattaching_it_and_recovers_the_file_beside_it()
    {
        _f.Start();
        Assert.Equal(0, _f.Run("add", "--target", "memory", "--size", "1M").Code);
        Assert.Equal(0, _f.Run("add", "--file", _f.PathOf("a.img"), "--size", "1M").Code);

        // What SIGKILL leaves: the records, the file device quiesced, the memory device dead
        // (added without USER_RECOVERY, the kernel stopped it when its daemon died).
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

        _f.Factory.Kernel[0] = DeviceState.Dead;
        _f.Factory.Kernel[1] = DeviceState.Quiesced;
        _f.Start();

        Assert.Equal([1u], _f.Factory.Recovered.ToArray());
        Assert.False(_f.Factory.Kernel.ContainsKey(0), "the dead memory device must be deleted");
        Assert.False(File.Exists(Path.Combine(Records, "0.json")), "its record must go");
        Assert.True(File.Exists(Path.Combine(Records, "1.json")));
    }

    [Fact]
    public void Recover_of_a_memory_device_exits_66_says_why_and_deletes_it()
    {
        _f.Start();
        Directory.CreateDirectory(Records);
        File.WriteAllText(Path.Combine(Records, "5.json"), """{"id":5,"options":{"target":"memory","size":"1M"}}""");
        _f.Factory.Kernel[5] = DeviceState.Dead;

        (int code, _, string error) = _f.Run("recover", "5");
        Assert.Equal(ExitCodes.NoInput, code);
        Assert.Contains("contents died with the daemon", error, StringComparison.Ordinal);
        Assert.False(_f.Factory.Kernel.ContainsKey(5));
        Assert.False(File.Exists(Path.Combine(Records, "5.json")));
        Assert.Empty(_f.Factory.Recovered);
    }

    [Fact]
    public void A_record_written_before_targets_is_read_as_a_file_device_and_recovered()
    {
        string file = _f.PathOf("old.img");
        File.WriteAllBytes(file, new byte[1 << 20]);

        // Byte for byte what the daemon wrote before targets existed.
        string old = $$$"""{"id":3,"options":{"file":"{{{file}}}","size":"1M","queues":1,"depth":128,"ordering":"Strict","directIo":false,"blockSize":512,"readOnly":false,"channelWrites":false,"testing":false}}""";
        DeviceRecord record = JsonSerializer.Deserialize(old, ControlJson.Default.DeviceRecord)!;
        Assert.Equal("file", record.Options.Target);
        Assert.Equal(file, record.Options.File);
        Assert.Equal(file, record.Options.TargetOptions["FILE"]);
        Assert.Null(DeviceOptionsValidator.Problem(record.Options));

        Directory.CreateDirectory(Records);
        File.WriteAllText(Path.Combine(Records, "3.json"), old);
        _f.Factory.Kernel[3] = DeviceState.Quiesced;
        _f.Start();

        Assert.Equal([3u], _f.Factory.Recovered.ToArray());
        (_, string list, _) = _f.Run("list", "--json");
        using JsonDocument doc = JsonDocument.Parse(list);
        JsonElement d = Assert.Single(doc.RootElement.EnumerateArray());
        Assert.Equal(file, d.GetProperty("file").GetString());
        Assert.Equal("file", d.GetProperty("target").GetString());
        Assert.Equal("strict", d.GetProperty("ordering").GetString());

        // Rewritten on recovery with the target named, and the file still at the top for older daemons.
        string now = File.ReadAllText(Path.Combine(Records, "3.json"));
        Assert.Contains("\"target\":\"file\"", now, StringComparison.Ordinal);
        Assert.Contains($"\"file\":\"{file}\"", now, StringComparison.Ordinal);
    }

    [Fact]
    public void The_control_socket_takes_targets_and_the_old_request_shape()
    {
        _f.Start();
        string file = _f.PathOf("sock.img");
        Assert.Contains("\"exitCode\":0", Request($$$"""{"op":"add","device":{"file":"{{{file}}}","size":"1M"}}"""), StringComparison.Ordinal);
        Assert.Contains("\"exitCode\":0", Request("""{"op":"add","device":{"target":"memory","size":"1M"}}"""), StringComparison.Ordinal);
        Assert.Contains("\"exitCode\":64", Request("""{"op":"add","device":{"target":"memory"}}"""), StringComparison.Ordinal);
        Assert.Contains("not of --target memory", ErrorOf(Request($$$$"""{"op":"add","device":{"target":"memory","size":"1M","targetOptions":{"file":"{{{{file}}}}"}}}""")), StringComparison.Ordinal);
        Assert.Contains("unknown request 'frobnicate'", ErrorOf(Request("""{"op":"frobnicate","id":0}""")), StringComparison.Ordinal);
        Assert.Contains("\"exitCode\":64", Request("""{"id":0}"""), StringComparison.Ordinal);

        string list = Request("""{"op":"list"}""");
        Assert.Contains("\"state\":\"live\"", list, StringComparison.Ordinal);
        Assert.Contains("\"target\":\"memory\"", list, StringComparison.Ordinal);
        Assert.Equal(2, _f.Factory.Kernel.Count);
    }

    [Fact]
    public void Configured_devices_name_targets_and_old_entries_still_bind()
    {
        string file = _f.PathOf("cfg.img");
        _f.WriteConfig($$"""{ "LoopOrder": { "Devices": [ { "File": "{{file}}", "Size": "1M" }, { "Target": "memory", "Size": "2M" } ] } }""");
        _f.Start();

        Assert.Equal(2, _f.Factory.Created.Count);
        Assert.True(_f.Factory.Created.Values.Single(o => o.SizeBytes == 1 << 20).UserRecovery);
        Assert.False(_f.Factory.Created.Values.Single(o => o.SizeBytes == 2 << 20).UserRecovery);
        Assert.True(File.Exists(file));
    }

    [Fact]
    public void A_configured_memory_device_without_size_exits_78()
    {
        _f.WriteConfig("""{ "LoopOrder": { "Devices": [ { "Target": "memory" } ] } }""");
        (int code, _, string error) = Via("serve");
        Assert.Equal(ExitCodes.Config, code);
        Assert.Contains("size is required with target memory", error, StringComparison.Ordinal);
        Assert.Empty(_f.Factory.Kernel);
    }

    private static string ErrorOf(string response)
    {
        using JsonDocument doc = JsonDocument.Parse(response);
        return doc.RootElement.TryGetProperty("error", out JsonElement e) ? e.GetString() ?? "" : "";
    }

    private string Request(string line)
    {
        using var s = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        s.Connect(new UnixDomainSocketEndPoint(Path.Combine(_f.RuntimeDirectory, "control.sock")));
        using var stream = new NetworkStream(s);
        using var writer = new StreamWriter(stream) { AutoFlush = true, NewLine = "\n" };
        using var reader = new StreamReader(stream);
        writer.WriteLine(line);
        return reader.ReadLine() ?? "";
    }

    /// <summary>One request to device <paramref name="id"/> as the kernel would send it; returns its result.</summary>
    private int Io(uint id, BlockOp op, byte[] data) => _f.Factory.Io(id, op, data);
}
