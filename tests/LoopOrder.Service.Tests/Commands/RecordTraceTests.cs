using System.Runtime.InteropServices;
using LoopOrder.Queues.Requests;
using LoopOrder.Service.Tests.Daemon;
using LoopOrder.Verification;

namespace LoopOrder.Service.Tests.Commands;

/// <summary>
/// <c>--testing --record-trace</c> through the real daemon (the kernel faked: requests are
/// submitted as the kernel would), and <c>loop-order crash-images</c> on what it recorded.
/// </summary>
public sealed class RecordTraceTests : IDisposable
{
    private const int FileBytes = 64 * 1024;

    private readonly DaemonFixture _f = new();

    public void Dispose() => _f.Dispose();

    private string TraceDir => _f.PathOf("trace");

    /// <summary>A backing file whose every byte is known: byte i is i % 251.</summary>
    private string BackingFile()
    {
        string file = _f.PathOf("disk.img");
        File.WriteAllBytes(file, [.. Enumerable.Range(0, FileBytes).Select(i => (byte)(i % 251))]);
        return file;
    }

    /// <summary>Serves <paramref name="file"/> with recording, writes <paramref name="data"/> at sector 8, flushes, deletes the device.</summary>
    private void RecordOneWriteAndFlush(string file, byte[] data)
    {
        _f.Start();
        (int code, string output, string error) = _f.Run(["add", "--file", file, "--testing", "--record-trace", TraceDir]);
        Assert.True(code == 0, error);
        uint id = uint.Parse(output.Trim()["/dev/ublkb".Length..], System.Globalization.CultureInfo.InvariantCulture);
        Action<BlockRequest> submit = _f.Factory.Submitters[id];

        nint buffer = Marshal.AllocHGlobal(data.Length);
        try
        {
            Marshal.Copy(data, 0, buffer, data.Length);
            var done = new Completion();
            var write = new BlockRequest(0, 0, done);
            write.Prepare(BlockOp.Write, RequestFlags.None, 8, (uint)(data.Length / BlockRequest.SectorSize), RequestBuffer.Memory(buffer, data.Length));
            submit(write);
            Assert.Equal(data.Length, done.Wait());

            // The buffer is the kernel's again once the write completed: the trace must hold the data as written.
            Marshal.Copy(new byte[data.Length], 0, buffer, data.Length);
            var flushed = new Completion();
            var flush = new BlockRequest(0, 1, flushed);
            flush.Prepare(BlockOp.Flush, RequestFlags.None, 0, 0, RequestBuffer.None);
            submit(flush);
            Assert.Equal(0, flushed.Wait());
        }
        finally
        {
            Marshal.FreeHGlobal(buffer);
        }

        (code, _, error) = _f.Run(["del", id.ToString(System.Globalization.CultureInfo.InvariantCulture)]);
        Assert.True(code == 0, error);
    }

    [Fact]
    public void A_recorded_device_leaves_its_trace_its_write_data_and_its_initial_file()
    {
        string file = BackingFile();
        byte[] initial = File.ReadAllBytes(file);
        byte[] data = [.. Enumerable.Range(0, 1024).Select(i => (byte)(0xF0 ^ i))];

        RecordOneWriteAndFlush(file, data);

        Assert.Equal(initial, File.ReadAllBytes(Path.Combine(TraceDir, TraceFile.InitialName)));
        RecordedTrace trace = TraceFile.Load(TraceDir);
        Assert.Equal(Queues.Ordering.OrderingMode.Drain, trace.Mode);
        Assert.Equal(FileBytes, trace.CapacityBytes);
        RequestRecord w = Assert.Single(trace.Recorder.Requests, r => r.Op == BlockOp.Write);
        Assert.Equal(8UL, w.StartSector);
        Assert.True(trace.Recorder.Data!.TryFind(w.Sequence, out long offset, out int length));
        Assert.Equal(data, File.ReadAllBytes(Path.Combine(TraceDir, TraceFile.DataName)).AsSpan((int)offset, length).ToArray());
        Assert.Contains(trace.Recorder.Requests, r => r.Op == BlockOp.Flush);
        Assert.Equal(trace.Recorder.Clock, trace.Timestamps.Count);

        // The image after the last event is exactly the served file.
        using var renderer = new CrashImageRenderer(trace);
        string image = _f.PathOf("last.img");
        Assert.Equal(0, renderer.Render(renderer.Model.LastClock, new Random(1), image).Violations);
        Assert.Equal(File.ReadAllBytes(file), File.ReadAllBytes(image));
    }

    [Fact]
    public void Crash_images_renders_checks_and_summarises()
    {
        RecordOneWriteAndFlush(BackingFile(), new byte[4096]);
        string images = _f.PathOf("images");

        (int code, string output, string error) = _f.Run(["crash-images", "--trace", TraceDir, "--count", "6", "--seed", "5", "--out", images, "--check", "/bin/true", "--jobs", "2"]);

        Assert.True(code == 0, error);
        Assert.EndsWith("crash-images: mode drain, 6 images, 0 contract violations, 0 failed checks, seed 5", output.TrimEnd(), StringComparison.Ordinal);
        Assert.Empty(Directory.GetFiles(images)); // passed images are deleted
        Assert.Equal(6, output.Split('\n').Count(l => l.StartsWith("image ", StringComparison.Ordinal) && l.Contains("check exit 0", StringComparison.Ordinal)));

        (code, output, _) = _f.Run(["crash-images", "--trace", TraceDir, "--count", "5", "--out", images, "--check", "/bin/false"]);
        Assert.Equal(1, code);
        Assert.Contains("0 contract violations, 5 failed checks", output, StringComparison.Ordinal);
        Assert.Equal(3, Directory.GetFiles(images).Length); // a few failures kept for a look

        (code, output, _) = _f.Run(["crash-images", "--trace", TraceDir, "--count", "2", "--out", _f.PathOf("kept")]);
        Assert.Equal(0, code);
        Assert.Equal(2, Directory.GetFiles(_f.PathOf("kept")).Length); // without --check every image is kept
        Assert.All(Directory.GetFiles(_f.PathOf("kept")), p => Assert.Equal(FileBytes, new FileInfo(p).Length));
    }

    [Fact]
    public void The_check_gets_the_image_while_it_exists_with_its_clock_and_timestamp()
    {
        RecordOneWriteAndFlush(BackingFile(), new byte[512]);
        string log = _f.PathOf("args.log");
        string check = _f.PathOf("check.sh");
        File.WriteAllText(check, $"#!/bin/sh\nsize=$(stat -c %s \"$1\") || exit 9\necho \"$size $2 $3 $4\" >> {log}\n");
        File.SetUnixFileMode(check, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        RecordedTrace trace = TraceFile.Load(TraceDir);

        (int code, string output, string error) = _f.Run(["crash-images", "--trace", TraceDir, "--count", "4", "--out", _f.PathOf("images"), "--check", check]);

        Assert.True(code == 0, output + error);
        string[] lines = File.ReadAllLines(log);
        Assert.Equal(4, lines.Length);
        for (int i = 0; i < lines.Length; i++)
        {
            string[] f = lines[i].Split(' ');
            Assert.Equal(FileBytes.ToString(System.Globalization.CultureInfo.InvariantCulture), f[0]);
            long clock = long.Parse(f[1], System.Globalization.CultureInfo.InvariantCulture);
            Assert.InRange(clock, 1, trace.Recorder.Clock);
            Assert.Equal(trace.NanosecondsAt(clock).ToString(System.Globalization.CultureInfo.InvariantCulture), f[2]);
            Assert.Equal(i.ToString(System.Globalization.CultureInfo.InvariantCulture), f[3]);
        }
    }

    [Theory]
    [InlineData("add")]
    [InlineData("serve")]
    public void Record_trace_without_testing_exits_64_and_creates_nothing(string entry)
    {
        if (entry == "add")
        {
            _f.Start();
        }

        string file = BackingFile();
        (int code, _, string error) = _f.Run([entry, "--file", file, "--record-trace", TraceDir]);

        Assert.Equal(ExitCodes.Usage, code);
        Assert.Contains("--record-trace is a test option: give --testing with it", error, StringComparison.Ordinal);
        Assert.False(Directory.Exists(TraceDir));
        Assert.Empty(_f.Factory.Kernel);
    }

    [Theory]
    [InlineData("--count", "0", "--count must be at least 1")]
    [InlineData("--count", "many", "many")]
    [InlineData("--jobs", "0", "--jobs must be at least 1")]
    [InlineData("--atomic-block", "1000", "not a power of two")]
    [InlineData("--atomic-block", "256", "not a power of two")]
    [InlineData("--check", "/no/such/check", "does not exist")]
    public void Crash_images_bad_arguments_exit_64(string option, string value, string message)
    {
        (int code, _, string error) = _f.Run(["crash-images", "--trace", _f.Root, "--out", _f.PathOf("o"), option, value]);

        Assert.Equal(ExitCodes.Usage, code);
        Assert.Contains(message, error, StringComparison.Ordinal);
    }

    [Fact]
    public void Crash_images_without_trace_or_out_exits_64()
    {
        Assert.Equal(ExitCodes.Usage, _f.Run(["crash-images", "--out", _f.PathOf("o")]).Code);
        Assert.Equal(ExitCodes.Usage, _f.Run(["crash-images", "--trace", _f.Root]).Code);
    }

    [Fact]
    public void Crash_images_of_a_directory_without_a_trace_exits_66()
    {
        (int code, _, string error) = _f.Run(["crash-images", "--trace", _f.Root, "--out", _f.PathOf("o")]);

        Assert.Equal(ExitCodes.NoInput, code);
        Assert.Contains("not a recorded trace directory", error, StringComparison.Ordinal);
        Assert.False(Directory.Exists(_f.PathOf("o")));
    }

    private sealed class Completion : IRequestCompletion
    {
        private readonly ManualResetEventSlim _done = new(false);
        private int _result;

        public void Complete(BlockRequest request, int result)
        {
            _result = result;
            _done.Set();
        }

        public int Wait()
        {
            Assert.True(_done.Wait(TimeSpan.FromMinutes(1)), "the request never completed");
            return _result;
        }
    }
}
