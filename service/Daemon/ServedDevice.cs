using LoopOrder.Interop;
using LoopOrder.Queues.Backends;
using LoopOrder.Queues.Dispatch;
using LoopOrder.Queues.Engine;
using LoopOrder.Queues.Requests;
using LoopOrder.Queues.Verification;
using LoopOrder.Service.Configuration;
using LoopOrder.Ublk.Device;
using Microsoft.Extensions.Logging;

namespace LoopOrder.Service.Daemon;

/// <summary>One served device: its backing file, its engine and its kernel device.</summary>
public sealed class ServedDevice
{
    private static readonly TimeSpan DrainTimeout = TimeSpan.FromSeconds(60);

    private readonly TraceRecorder? _recorder;
    private readonly ILogger _logger;

    private ServedDevice(DeviceOptions options, FileBackend backend, BlockEngine engine, IDeviceHandle device, bool recovered,
        TraceRecorder? recorder, ILogger logger)
    {
        _recorder = recorder;
        _logger = logger;
        Options = options;
        Backend = backend;
        Engine = engine;
        Device = device;
        Recovered = recovered;
    }

    /// <summary>What was asked for (the file as an absolute path).</summary>
    public DeviceOptions Options { get; }

    /// <summary>The backing file.</summary>
    public FileBackend Backend { get; }

    /// <summary>The engine serving it.</summary>
    public BlockEngine Engine { get; }

    /// <summary>The kernel device.</summary>
    public IDeviceHandle Device { get; }

    /// <summary>True when this daemon reattached the device after another one died.</summary>
    public bool Recovered { get; }

    /// <summary>The device number.</summary>
    public uint Id => Device.Id;

    /// <summary>
    /// Opens the file, builds the engine, then creates (or, given <paramref name="recoverId"/>,
    /// reattaches) the kernel device. Anything that fails undoes what came before it, including
    /// removing a backing file this call created.
    /// </summary>
    /// <param name="options">Validated options, the file an absolute path.</param>
    /// <param name="factory">Makes the kernel device.</param>
    /// <param name="recoverId">The device to reattach, or null to add a new one.</param>
    /// <param name="logger">For the transport's logs.</param>
    public static ServedDevice Start(DeviceOptions options, IDeviceFactory factory, uint? recoverId, ILogger logger)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(factory);
        long? size = options.Size is null ? null : SizeText.Parse(options.Size);
        bool existed = File.Exists(options.File) || Directory.Exists(options.File);
        bool create = size is not null && recoverId is null && !existed;

        // Test only: the initial file is copied before the backend opens (and locks) it. A recovered
        // device's trace would lack what the killed daemon saw, so only a new one records.
        bool initialCopied = false;
        if (options.Testing && options.RecordTrace is { } traceDirectory && recoverId is null)
        {
            TraceFile.CopyInitial(File.Exists(options.File) ? options.File : null, size ?? 0, traceDirectory);
            initialCopied = true;
        }

        FileBackend backend = new(new FileBackendOptions
        {
            Path = options.File,
            DirectIo = options.DirectIo,
            ReadOnly = options.ReadOnly,
            Size = size,
            Create = create,
        });

        BlockEngine? engine = null;
        IDeviceHandle? kernelDevice = null;

        // Before the engine exists, so no truncation goes unlogged (the kernel reads the device as soon as it starts).
        backend.Truncated = fileSize => Log.BackingFileTruncated(
            logger, kernelDevice?.BlockDevicePath ?? "(starting)", options.File, fileSize, backend.Length);

        TraceRecorder? recorder = null;
        try
        {
            if (backend.Length < options.BlockSize || (options.DirectIo && backend.DirectIoAlignment > options.BlockSize))
            {
                throw new ServiceException(
                    ExitCodes.Usage,
                    backend.Length < options.BlockSize
                        ? $"{options.File} holds {backend.Length} bytes, less than one {options.BlockSize}-byte block; give a larger file or --size."
                        : $"{options.File} needs {backend.DirectIoAlignment}-byte alignment for O_DIRECT; use --block-size 4096 or drop --direct-io.");
            }

            if (initialCopied)
            {
                recorder = new TraceRecorder(new WriteDataLog(Path.Combine(options.RecordTrace!, TraceFile.DataName)));
            }

            NumaTopology topology = NumaTopology.Read();
            IBackend served = WithFaults(backend, options, recoverId, logger);

            // Recording is outermost: the trace shows what the engine saw, injected faults included.
            engine = BlockEngine.Create(recorder is null ? served : new RecordingBackend(served, recorder), new EngineOptions
            {
                Mode = options.Ordering,
                LogicalBlockSize = options.BlockSize,
                Observer = recorder,
                SubmitterWrites = !options.ChannelWrites,

                // Every tag of every queue, plus the final flush.
                MaxInFlight = Math.Max(EngineOptions.DefaultMaxInFlight, (options.Queues * options.Depth) + 1),
                Topology = topology,
            });

            var deviceOptions = new UblkDeviceOptions
            {
                SizeBytes = backend.Length / options.BlockSize * options.BlockSize,
                Queues = options.Queues,
                QueueDepth = options.Depth,
                LogicalBlockSize = options.BlockSize,
                PhysicalBlockSize = Math.Max(4096, options.BlockSize),
                ReadOnly = options.ReadOnly,

                // Every device outlives a crashed daemon: the next one reattaches it.
                UserRecovery = true,
                NodeForCpus = topology.NodeForCpus,
                QueueThreadInit = engine.AttachSubmitter,
            };
            BlockEngine e = engine;
            IDeviceHandle device = recoverId is { } id
                ? factory.Recover(id, deviceOptions, e.Submit, logger)
                : factory.Create(deviceOptions, e.Submit, logger);
            kernelDevice = device;
            if (recorder is not null)
            {
                Log.Recording(logger, device.Id, options.RecordTrace!);
            }
            else if (options.RecordTrace is not null && recoverId is not null)
            {
                Log.NotRecording(logger, device.Id);
            }

            return new ServedDevice(options, backend, engine, device, recoverId is not null, recorder, logger);
        }
        catch
        {
            recorder?.Data?.Dispose();
            if (engine is null || engine.Shutdown(DrainTimeout))
            {
                backend.Dispose();
            }

            if (create)
            {
                // Ours: a failed add leaves nothing behind.
                _ = FileDescriptor.TryUnlink(options.File);
            }

            throw;
        }
    }

    /// <summary>
    /// <paramref name="backend"/>, wrapped to inject <see cref="DeviceOptions.InjectFaults"/> (a
    /// test option, validated already). A recovered device serves without them: faults belong to
    /// the test that asked for them, and a restarted daemon should not go on failing I/O (nor
    /// count requests afresh from a point the test never saw).
    /// </summary>
    private static IBackend WithFaults(FileBackend backend, DeviceOptions options, uint? recoverId, ILogger logger)
    {
        if (options.InjectFaults is not { } spec)
        {
            return backend;
        }

        if (recoverId is { } id)
        {
            Log.FaultsNotRearmed(logger, id, options.File, spec);
            return backend;
        }

        string file = options.File;
        Log.FaultsArmed(logger, file, spec);
        return new FaultInjectingBackend(backend, FaultPlan.Parse(spec), f => Log.FaultInjected(
            logger, file, f.Rule.Effect, f.Rule.Target, f.Ordinal, f.StartSector, f.SectorCount, f.Reported, f.Rule.ToString()));
    }

    /// <summary>
    /// Stops the device (the kernel flushes it while the queues still serve), drains the engine,
    /// fdatasyncs the file through a final flush, deletes the device and closes the file.
    /// Returns the final flush's result (0 or -errno).
    /// </summary>
    /// <param name="stopTimeout">Per queue, for STOP_DEV to finish.</param>
    public int Stop(TimeSpan stopTimeout)
    {
        Device.Stop(stopTimeout);
        bool drained = Engine.WaitForIdle(DrainTimeout);
        int flush = drained ? FinalFlush() : Errno.ETIMEDOUT.ToResult();
        Device.Dispose();
        if (Engine.Shutdown(DrainTimeout))
        {
            Backend.Dispose();
        }

        SaveTrace();
        return flush;
    }

    /// <summary>Test only: writes the recorded trace, once the device is quiet, where --record-trace said.</summary>
    private void SaveTrace()
    {
        if (_recorder?.Data is not { } data)
        {
            return;
        }

        string directory = Options.RecordTrace!;
        try
        {
            data.Dispose();
            TraceFile.Save(_recorder, Options.Ordering, Backend.Length / Options.BlockSize * Options.BlockSize, directory);
            Log.TraceSaved(_logger, Id, _recorder.Requests.Count, _recorder.Clock, data.Length, directory);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            Log.TraceSaveFailed(_logger, Id, directory, e.Message);
        }
    }

    /// <summary>One FLUSH through the engine after everything else: the file's fdatasync, a latched failure reported.</summary>
    private int FinalFlush()
    {
        var waiter = new FlushWaiter();
        var request = new BlockRequest(queueId: -1, tag: 0, waiter);
        request.Prepare(BlockOp.Flush, RequestFlags.None, 0, 0, 0, 0);
        Engine.Submit(request);
        return waiter.Wait(DrainTimeout) ? waiter.Result : Errno.ETIMEDOUT.ToResult();
    }

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
