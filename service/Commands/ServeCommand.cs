using System.CommandLine;
using System.Globalization;
using System.Runtime.InteropServices;
using LoopOrder.Interop;
using LoopOrder.Queues.Backends;
using LoopOrder.Queues.Dispatch;
using LoopOrder.Queues.Engine;
using LoopOrder.Queues.Ordering;
using LoopOrder.Queues.Requests;
using LoopOrder.Ublk.Control;
using LoopOrder.Ublk.Device;
using Microsoft.Extensions.Logging;

namespace LoopOrder.Service.Commands;

/// <summary>
/// <c>loop-order serve --file F [--size S] [--queues N] [--depth D] [--ordering drain|strict|none] [--direct-io]</c>:
/// a foreground server. Creates the file when absent (given a size), creates the device, prints
/// the block device path on stdout, serves until SIGINT or SIGTERM, then stops the device (the
/// kernel flushes it while the queues still serve), drains the engine, fdatasyncs the file
/// through a final flush, deletes the device and exits 0.
/// </summary>
public static class ServeCommand
{
    private static readonly TimeSpan StopTimeout = TimeSpan.FromSeconds(30);
    private static readonly TimeSpan DrainTimeout = TimeSpan.FromSeconds(60);

    /// <summary>Builds the <c>serve</c> subcommand.</summary>
    public static Command Create()
    {
        var file = new Option<FileInfo>("--file", "-f") { Description = "The backing file (created when absent and --size is given).", Required = true };
        var size = new Option<string?>("--size", "-s") { Description = "Device size, e.g. 4G, 512M, 1048576 (binary units). Default: the whole file; required to create one." };
        var queues = new Option<int>("--queues", "-q") { Description = "Hardware queues (one thread each; capped at the CPU count).", DefaultValueFactory = _ => 1 };
        var depth = new Option<int>("--depth", "-d") { Description = "Tags per queue.", DefaultValueFactory = _ => UblkDeviceOptions.DefaultQueueDepth };
        var ordering = new Option<OrderingMode>("--ordering") { Description = "What a flush promises: drain (default), strict, or none (like the loop driver).", DefaultValueFactory = _ => OrderingMode.Drain };
        var directIo = new Option<bool>("--direct-io") { Description = "Open the backing file with O_DIRECT." };
        var blockSize = new Option<int>("--logical-block-size") { Description = "512 (default) or 4096.", DefaultValueFactory = _ => 512 };
        var recovery = new Option<bool>("--recovery") { Description = "Ask for USER_RECOVERY: the device outlives a crashed server." };
        var verbose = new Option<bool>("--verbose", "-v") { Description = "Log debug details to stderr." };

        var command = new Command("serve", "Serve a file as /dev/ublkbN in the foreground until SIGINT or SIGTERM.")
        {
            file, size, queues, depth, ordering, directIo, blockSize, recovery, verbose,
        };
        command.SetAction(parse =>
        {
            var settings = new ServeSettings
            {
                File = parse.GetValue(file)!.FullName,
                Size = parse.GetValue(size),
                Queues = parse.GetValue(queues),
                Depth = parse.GetValue(depth),
                Ordering = parse.GetValue(ordering),
                DirectIo = parse.GetValue(directIo),
                LogicalBlockSize = parse.GetValue(blockSize),
                Recovery = parse.GetValue(recovery),
                Verbose = parse.GetValue(verbose),
            };
            return Run(settings, parse.InvocationConfiguration.Output, parse.InvocationConfiguration.Error);
        });
        return command;
    }

    /// <summary>Serves until a signal, then tears down; returns the exit code.</summary>
    /// <param name="settings">What to serve.</param>
    /// <param name="output">Gets the block device path, one line.</param>
    /// <param name="error">Gets messages for a human.</param>
    public static int Run(ServeSettings settings, TextWriter output, TextWriter error)
    {
        ArgumentNullException.ThrowIfNull(settings);
        ArgumentNullException.ThrowIfNull(output);
        ArgumentNullException.ThrowIfNull(error);

        long? size;
        try
        {
            size = settings.Size is null ? null : ParseSize(settings.Size);
        }
        catch (FormatException e)
        {
            error.WriteLine($"loop-order serve: {e.Message}");
            return ExitCodes.Usage;
        }

        // No ublk, no point touching the file: say so before creating anything.
        if (!UblkControl.IsAvailable(settings.ControlPath))
        {
            error.WriteLine($"loop-order serve: {new UblkUnavailableException(settings.ControlPath).Message}");
            return ExitCodes.Unavailable;
        }

        if (size is null && !File.Exists(settings.File))
        {
            error.WriteLine($"loop-order serve: {settings.File} does not exist; give --size to create it.");
            return ExitCodes.NoInput;
        }

        using ILoggerFactory loggers = CreateLoggers(settings.Verbose);
        ILogger logger = loggers.CreateLogger("loop-order");
        logger.LogDebug("opening {File}", settings.File);

        FileBackend backend;
        try
        {
            backend = new FileBackend(new FileBackendOptions
            {
                Path = settings.File,
                DirectIo = settings.DirectIo,
                Size = size,
                Create = size is not null,
            });
        }
        catch (ArgumentException e)
        {
            error.WriteLine($"loop-order serve: {e.Message}");
            return ExitCodes.Usage;
        }
        catch (IOException e)
        {
            error.WriteLine($"loop-order serve: {e.Message}");
            return e is ErrnoException ? ExitCodes.NoInput : ExitCodes.Unavailable;
        }

        logger.LogDebug("backing file open: {Length} bytes, direct I/O {DirectIo}", backend.Length, backend.DirectIo);
        NumaTopology topology = NumaTopology.Read();
        BlockEngine engine = BlockEngine.Create(backend, new EngineOptions
        {
            Mode = settings.Ordering,

            // Every tag of every queue, plus the final flush.
            MaxInFlight = Math.Max(EngineOptions.DefaultMaxInFlight, (settings.Queues * settings.Depth) + 1),
            Topology = topology,
        });

        using var shutdown = new ManualResetEventSlim(false);
        using PosixSignalRegistration sigint = PosixSignalRegistration.Create(PosixSignal.SIGINT, OnSignal);
        using PosixSignalRegistration sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, OnSignal);

        logger.LogDebug("engine started: {Nodes} node(s), ordering {Mode}", topology.NodeCount, settings.Ordering);
        UblkDevice device;
        try
        {
            device = UblkDevice.Create(
                new UblkDeviceOptions
                {
                    SizeBytes = backend.Length / settings.LogicalBlockSize * settings.LogicalBlockSize,
                    Queues = settings.Queues,
                    QueueDepth = settings.Depth,
                    LogicalBlockSize = settings.LogicalBlockSize,
                    UserRecovery = settings.Recovery,
                    NodeForCpus = topology.NodeForCpus,
                    ControlPath = settings.ControlPath,
                },
                engine.Submit,
                logger);
        }
        catch (Exception e) when (e is IOException or ArgumentException)
        {
            error.WriteLine($"loop-order serve: cannot create the device: {e.Message}");
            engine.Dispose();
            return e switch
            {
                UblkUnavailableException => ExitCodes.Unavailable,
                ErrnoException { Errno: Errno.EPERM or Errno.EACCES } => ExitCodes.NoPermission,
                ArgumentException => ExitCodes.Usage,
                _ => ExitCodes.Failure,
            };
        }

        output.WriteLine(device.BlockDevicePath);
        output.Flush();
        error.WriteLine(string.Create(
            CultureInfo.InvariantCulture,
            $"loop-order serve: {device.BlockDevicePath} serves {settings.File} ({backend.Length} bytes, {device.Info.nr_hw_queues} queue(s) x {device.Info.queue_depth}, {device.Info.max_io_buf_bytes / 1024} KiB requests, ordering {settings.Ordering.ToString().ToLowerInvariant()}, flags {device.Features}); SIGINT or SIGTERM stops it"));
        error.Flush();

        WaitHandle.WaitAny([shutdown.WaitHandle, device.EndedHandle]);
        bool unexpected = !shutdown.IsSet;
        if (unexpected)
        {
            error.WriteLine($"loop-order serve: {device.BlockDevicePath} ended without a signal{(device.Fault is { } f ? ": " + f.Message : " (stopped or deleted from outside)")}");
        }

        // STOP_DEV first: the kernel writes back and flushes the disk while the queues still
        // serve, then aborts the tags and the queue threads leave.
        logger.LogInformation("stopping {Device}", device.BlockDevicePath);
        device.Stop(StopTimeout);
        logger.LogInformation("stopped; draining the engine");
        bool drained = engine.WaitForIdle(DrainTimeout);
        int flush = drained ? FinalFlush(engine) : -Errno.ETIMEDOUT;
        logger.LogInformation("drained {Drained}, final flush {Flush}; deleting the device", drained, flush);
        device.Dispose();
        logger.LogInformation("deleted");
        if (drained)
        {
            engine.Dispose();
        }

        if (flush < 0)
        {
            error.WriteLine($"loop-order serve: the final fdatasync of {settings.File} failed: {ErrnoException.Describe(-flush)}");
            return ExitCodes.IoError;
        }

        string perQueue = string.Join(' ', device.QueueStatistics.Select(q => string.Create(
            CultureInfo.InvariantCulture,
            $"q{q.QueueId}={q.Reads + q.Writes + q.Flushes + q.Discards}")));
        error.WriteLine($"loop-order serve: {device.BlockDevicePath} stopped and deleted after {device.RequestCount} requests ({perQueue}); {settings.File} is synced");
        return unexpected ? ExitCodes.Failure : ExitCodes.Ok;

        void OnSignal(PosixSignalContext context)
        {
            // Keep the process: shutdown is ours to run.
            context.Cancel = true;
            shutdown.Set();
        }
    }

    /// <summary>"4G", "512M", "64k", "1GiB", "1048576": bytes, binary units.</summary>
    /// <param name="text">The size.</param>
    /// <exception cref="FormatException">Not a size.</exception>
    public static long ParseSize(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        string s = text.Trim();
        int shift = 0;
        string upper = s.ToUpperInvariant();
        foreach ((string suffix, int bits) in new[] { ("K", 10), ("M", 20), ("G", 30), ("T", 40) })
        {
            foreach (string form in new[] { suffix + "IB", suffix + "B", suffix })
            {
                if (upper.EndsWith(form, StringComparison.Ordinal))
                {
                    shift = bits;
                    s = s[..^form.Length];
                    goto parsed;
                }
            }
        }

        if (upper.EndsWith('B'))
        {
            s = s[..^1];
        }

    parsed:
        if (!long.TryParse(s, NumberStyles.None, CultureInfo.InvariantCulture, out long value) || value <= 0 || value > (long.MaxValue >> shift))
        {
            throw new FormatException($"'{text}' is not a size (examples: 4G, 512M, 1048576).");
        }

        return value << shift;
    }

    /// <summary>One FLUSH through the engine after everything else: the file's fdatasync, with a latched failure reported.</summary>
    private static int FinalFlush(BlockEngine engine)
    {
        var waiter = new FlushWaiter();
        var request = new BlockRequest(queueId: -1, tag: 0, waiter);
        request.Prepare(BlockOp.Flush, RequestFlags.None, 0, 0, 0, 0);
        engine.Submit(request);
        return waiter.Wait(DrainTimeout) ? waiter.Result : -Errno.ETIMEDOUT;
    }

    private static ILoggerFactory CreateLoggers(bool verbose) => LoggerFactory.Create(builder =>
    {
        builder.SetMinimumLevel(verbose ? LogLevel.Debug : LogLevel.Information);
        builder.AddSimpleConsole(o =>
        {
            o.SingleLine = true;
            o.TimestampFormat = "HH:mm:ss.fff ";
        });

        // stdout carries the device path only, for scripts.
        builder.AddConsole(o => o.LogToStandardErrorThreshold = LogLevel.Trace);
    });

    private sealed class FlushWaiter : IRequestCompletion
    {
        private readonly ManualResetEventSlim _done = new(false);

        public int Result { get; private set; }

        public void Complete(BlockRequest request, int result)
        {
            Result = result;
            _done.Set();
        }

        public bool Wait(TimeSpan timeout) => _done.Wait(timeout);
    }
}
