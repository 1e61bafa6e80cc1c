using LoopOrder.Interop;
using LoopOrder.Queues.Requests;
using LoopOrder.Service.Configuration;
using LoopOrder.Service.Daemon;
using LoopOrder.Verification.Backends;
using Microsoft.Extensions.Logging;

namespace LoopOrder.Service.Tests.Daemon;

/// <summary>
/// --inject-faults is a test option: refused (exit 64, nothing created) without --testing or
/// with a bad spec, hidden from --help, and when accepted the served device's engine really
/// fails the requests the spec names, logs each fault, and a recovered device runs without them.
/// </summary>
public sealed class FaultOptionTests : IDisposable
{
    private const int EIO = (int)Errno.EIO;
    private readonly DaemonFixture _f = new();

    public void Dispose() => _f.Dispose();

    public static TheoryData<string> Entrypoints => ["add", "serve"];

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

    private void AssertNothingCreated(string file)
    {
        Assert.False(File.Exists(file), "the backing file was created");
        Assert.Empty(_f.Factory.Kernel);
        string records = Path.Combine(_f.RuntimeDirectory, "devices");
        Assert.False(Directory.Exists(records) && Directory.EnumerateFiles(records).Any(), "a device record was left");
    }

    [Theory]
    [MemberData(nameof(Entrypoints))]
    public void Inject_faults_without_testing_exits_64_and_creates_nothing(string entry)
    {
        string file = _f.PathOf("faulty.img");
        (int code, string output, string error) = Via(entry, "--file", file, "--size", "1M", "--inject-faults", "write:eio@1");

        Assert.Equal(ExitCodes.Usage, code);
        Assert.Contains("--inject-faults is a test option", error, StringComparison.Ordinal);
        Assert.Contains("--testing", error, StringComparison.Ordinal);
        Assert.Equal("", output);
        AssertNothingCreated(file);
    }

    [Theory]
    [MemberData(nameof(Entrypoints))]
    public void A_bad_spec_exits_64_with_what_is_wrong_and_creates_nothing(string entry)
    {
        string file = _f.PathOf("faulty.img");
        (int code, _, string error) = Via(entry, "--file", file, "--size", "1M", "--testing", "--inject-faults", "write:eoi@3");

        Assert.Equal(ExitCodes.Usage, code);
        Assert.Contains("--inject-faults: item 1 'write:eoi@3': 'eoi' is not a fault; give eio, enospc or short.", error, StringComparison.Ordinal);
        AssertNothingCreated(file);
    }

    [Fact]
    public void Serve_without_a_file_refuses_the_test_options_like_any_device_option()
    {
        (int code, _, string error) = Via("serve", "--testing", "--inject-faults", "write:eio@1");
        Assert.Equal(ExitCodes.Usage, code);
        Assert.Contains("device options need --file", error, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("serve")]
    [InlineData("add")]
    public void The_test_options_are_hidden_from_help(string command)
    {
        using var output = new StringWriter();
        Assert.Equal(0, Program.Run([command, "--help"], output, new StringWriter()));
        Assert.DoesNotContain("--inject-faults", output.ToString(), StringComparison.Ordinal);
        Assert.DoesNotContain("--testing", output.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public void The_validator_gates_faults_from_any_source()
    {
        DeviceOptions o = DaemonFixture.Device(_f.PathOf("x.img"), "1M");
        o.InjectFaults = "sync:eio@1";
        Assert.Contains("--testing", DeviceOptionsValidator.Problem(o), StringComparison.Ordinal);
        o.Testing = true;
        Assert.Null(DeviceOptionsValidator.Problem(o));
        o.InjectFaults = "";
        Assert.Contains("--inject-faults: the spec is empty", DeviceOptionsValidator.Problem(o), StringComparison.Ordinal);
    }

    [Fact]
    public void Add_with_testing_serves_a_device_whose_engine_fails_as_the_spec_says_and_logs_each_fault()
    {
        string file = _f.PathOf("faulty.img");
        DeviceOptions o = DaemonFixture.Device(file, "1M");
        o.Testing = true;
        o.InjectFaults = "write:eio@2";
        var log = new CapturingLogger();
        ServedDevice device = ServedDevice.Start(o, _f.Factory, recoverId: null, log);

        FaultInjectingBackend faults = Assert.IsType<FaultInjectingBackend>(device.Engine.Backend);
        Assert.Equal("write:eio@2", faults.Plan.Spec);
        Assert.Equal(4096, Submit(device, BlockOp.Write));
        Assert.Equal(-EIO, Submit(device, BlockOp.Write));
        Assert.Equal(-EIO, Submit(device, BlockOp.Flush));

        Assert.Contains(log.Entries, e => e.Id == 260 && e.Level == LogLevel.Warning && e.Message.Contains("write:eio@2", StringComparison.Ordinal));
        (int id, LogLevel level, string message) = Assert.Single(log.Entries, e => e.Id == 261);
        Assert.Equal(LogLevel.Warning, level);
        Assert.Contains($"{file}: injected Eio into Write #2", message, StringComparison.Ordinal);

        // The final flush reports the latched failure.
        Assert.Equal(-EIO, device.Stop(TimeSpan.FromSeconds(10)));
    }

    [Fact]
    public void A_recovered_device_serves_without_its_faults_and_says_so()
    {
        string file = _f.PathOf("faulty.img");
        DeviceOptions o = DaemonFixture.Device(file, "1M");
        o.Testing = true;
        o.InjectFaults = "write:eio%100";
        ServedDevice first = ServedDevice.Start(o, _f.Factory, recoverId: null, new CapturingLogger());
        uint id = first.Id;
        first.Engine.Shutdown(TimeSpan.FromSeconds(10));
        first.Backend.Dispose();

        var log = new CapturingLogger();
        ServedDevice again = ServedDevice.Start(o, _f.Factory, recoverId: id, log);
        Assert.IsNotType<FaultInjectingBackend>(again.Engine.Backend);
        Assert.Equal(4096, Submit(again, BlockOp.Write));
        Assert.Contains(log.Entries, e => e.Id == 262 && e.Message.Contains("not re-armed", StringComparison.Ordinal));
        Assert.Equal(0, again.Stop(TimeSpan.FromSeconds(10)));
    }

    private static unsafe int Submit(ServedDevice device, BlockOp op)
    {
        const int Bytes = 4096;
        nint buffer = (nint)System.Runtime.InteropServices.NativeMemory.AlignedAlloc(Bytes, Bytes);
        try
        {
            new Span<byte>((void*)buffer, Bytes).Fill(0x5A);
            var done = new Waiter();
            var r = new BlockRequest(0, 0, done);
            r.Prepare(op, RequestFlags.None, 0, op == BlockOp.Flush ? 0u : Bytes / 512, op == BlockOp.Flush ? RequestBuffer.None : RequestBuffer.Memory(buffer, Bytes));
            device.Engine.Submit(r);
            Assert.True(done.Done.Wait(TimeSpan.FromSeconds(30)), $"{r} did not complete");
            return done.Result;
        }
        finally
        {
            System.Runtime.InteropServices.NativeMemory.AlignedFree((void*)buffer);
        }
    }

    private sealed class Waiter : IRequestCompletion
    {
        public ManualResetEventSlim Done { get; } = new();

        public int Result { get; private set; }

        public void Complete(BlockRequest request, int result)
        {
            Result = result;
            Done.Set();
        }
    }

    private sealed class CapturingLogger : ILogger
    {
        private readonly Lock _gate = new();
        private readonly List<(int Id, LogLevel Level, string Message)> _entries = [];

        public IReadOnlyList<(int Id, LogLevel Level, string Message)> Entries
        {
            get
            {
                lock (_gate)
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
            lock (_gate)
            {
                _entries.Add((eventId.Id, logLevel, formatter(state, exception)));
            }
        }
    }
}
