using LoopOrder.Interop;
using LoopOrder.Queues.Backends;
using LoopOrder.Queues.Dispatch;
using LoopOrder.Queues.Engine;
using LoopOrder.Queues.Requests;
using LoopOrder.Queues.Snapshots;
using LoopOrder.Queues.Targets;
using LoopOrder.Queues.Tracking;
using LoopOrder.Service.Configuration;
using LoopOrder.Ublk.Device;
using LoopOrder.Ublk.Protocol;
using LoopOrder.Verification;
using LoopOrder.Verification.Backends;
using LoopOrder.Verification.Faults;
using Microsoft.Extensions.Logging;

namespace LoopOrder.Service.Daemon;

/// <summary>One served device: its target's backend, its engine and its kernel device.</summary>
public sealed partial class ServedDevice
{
    private static readonly TimeSpan DrainTimeout = TimeSpan.FromSeconds(60);

    private readonly TraceRecorder? _recorder;
    private readonly ILogger _logger;

    private ServedDevice(DeviceOptions options, ITarget target, IBackend backend, BlockEngine engine, IDeviceHandle device, bool recovered,
        TraceRecorder? recorder, ILogger logger)
    {
        _recorder = recorder;
        _logger = logger;
        Options = options;
        Target = target;
        Backend = backend;
        Engine = engine;
        Device = device;
        Recovered = recovered;
    }

    /// <summary>What was asked for, normalised (a file as an absolute path).</summary>
    public DeviceOptions Options { get; }

    /// <summary>What the device serves.</summary>
    public ITarget Target { get; }

    /// <summary>The target's storage, as the engine serves it (before any test wrapping).</summary>
    public IBackend Backend { get; }

    /// <summary>The engine serving it.</summary>
    public BlockEngine Engine { get; }

    /// <summary>The kernel device.</summary>
    public IDeviceHandle Device { get; }

    /// <summary>True when this daemon reattached the device after another one died.</summary>
    public bool Recovered { get; }

    /// <summary>The device number.</summary>
    public uint Id => Device.Id;

    /// <summary>Device size in bytes: the storage's, in whole blocks.</summary>
    public long SizeBytes => Backend.Length / Options.BlockSize * Options.BlockSize;

    /// <summary>What the device serves, for logs and lists.</summary>
    public string Describe() => Target.Describe(Options.TargetOptions);

    /// <summary>
    /// Opens the target, builds the engine, then creates (or, given <paramref name="recoverId"/>,
    /// reattaches) the kernel device. Anything that fails undoes what came before it, including
    /// what opening the target created (a new backing file).
    /// </summary>
    /// <param name="options">Validated options, normalised (<see cref="DeviceOptions.Normalised"/>).</param>
    /// <param name="factory">Makes the kernel device.</param>
    /// <param name="recoverId">The device to reattach, or null to add a new one.</param>
    /// <param name="logger">For the transport's logs.</param>
    public static ServedDevice Start(DeviceOptions options, IDeviceFactory factory, uint? recoverId, ILogger logger)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(factory);
        options = options.Normalised();
        ITarget target = options.ResolveTarget();
        TargetRequest request = options.ToTargetRequest(recovering: recoverId is not null);
        IDeviceHandle? kernelDevice = null;

        // Test only: the initial contents are copied before the target opens (and locks, or
        // creates) the storage; with neither an image nor a size to create, opening fails next.
        // A recovered device's trace would lack what the killed daemon saw, so only a new one records.
        bool record = options.Testing && options.RecordTrace is not null && recoverId is null;
        string? initial = record ? target.InitialImage(request) : null;
        if (record && (initial is not null || request.Size is not null))
        {
            TraceFile.CopyInitial(initial, request.Size ?? 0, options.RecordTrace!);
        }

        OpenedTarget opened = target.Open(request, new TargetContext(logger, () => kernelDevice?.BlockDevicePath ?? "(starting)"));
        IBackend backend = opened.Backend;
        BlockEngine? engine = null;
        TraceRecorder? recorder = null;
        CopyOnWrite? copyOnWrite = null;
        try
        {
            if (record)
            {
                recorder = new TraceRecorder(new WriteDataLog(Path.Combine(options.RecordTrace!, TraceFile.DataName)));
            }

            NumaTopology topology = NumaTopology.Read();
            IBackend served = WithFaults(backend, options, recoverId, logger);

            // Before the device serves a write: the snapshots FILE.cow lists are kept from the first one on.
            copyOnWrite = OpenCopyOnWrite(options, target, backend.Length, logger);

            // Recording is outermost: the trace shows what the engine saw, injected faults included.
            engine = BlockEngine.Create(recorder is null ? served : new RecordingBackend(served, recorder), new EngineOptions
            {
                Mode = options.Ordering,
                LogicalBlockSize = options.BlockSize,
                Observer = recorder,
                SubmitterWrites = !options.ChannelWrites && target.Capabilities.HasFlag(TargetCapabilities.SubmitterLane),

                // Every tag of every queue, plus the final flush or a snapshot barrier.
                MaxInFlight = Math.Max(EngineOptions.DefaultMaxInFlight, (options.Queues * options.Depth) + 1),
                Topology = topology,

                // A recovered device reopens the same FILE.cbt: the tracked set carries over.
                Tracking = options.TrackChanges && options.TrackingMetadataPath is { } cbt
                    ? new TrackerOptions
                    {
                        MetadataPath = cbt,
                        RegionSize = options.TrackGranularity is { } g ? (int)SizeText.Parse(g) : TrackerOptions.DefaultRegionSize,
                    }
                    : null,
                CopyOnWrite = copyOnWrite,
            });

            var deviceOptions = new UblkDeviceOptions
            {
                SizeBytes = backend.Length / options.BlockSize * options.BlockSize,
                Queues = options.Queues,
                QueueDepth = options.Depth,
                LogicalBlockSize = options.BlockSize,
                PhysicalBlockSize = Math.Max(4096, options.BlockSize),
                ReadOnly = options.ReadOnly,
                Discard = target.Capabilities.HasFlag(TargetCapabilities.Discard),

                // A device whose storage outlives the daemon survives it: the next daemon
                // reattaches it. One whose storage dies with the daemon (memory) must not keep
                // the kernel holding I/O for a server that cannot bring its data back.
                UserRecovery = target.Capabilities.HasFlag(TargetCapabilities.Persistent),
                RecoveryFailIo = options.RecoveryIo == RecoveryIo.Fail,
                PartitionScan = options.Partitions,
                NodeForCpus = topology.NodeForCpus,
                QueueThreadInit = engine.AttachSubmitter,

                // Only over the file itself: a test's recorder or fault injector wraps it and
                // must see every byte, so such a device copies.
                ZeroCopy = options.WantsZeroCopy && target.Capabilities.HasFlag(TargetCapabilities.ZeroCopy) && engine.Backend is IRegisteredFile,
                BatchIo = options.BatchIo,
            };
            BlockEngine e = engine;
            IDeviceHandle device = recoverId is { } id
                ? factory.Recover(id, deviceOptions, e.Submit, logger)
                : factory.Create(deviceOptions, e.Submit, logger);
            kernelDevice = device;
            if (options.ZeroCopy == ZeroCopyMode.On && !device.Granted.HasFlag(UblkFeatures.AutoBufReg))
            {
                Log.ZeroCopyUnavailable(
                    logger,
                    device.Id,
                    deviceOptions.ZeroCopy ? "the kernel does not offer UBLK_F_AUTO_BUF_REG (6.16+)" : "a test option wraps the storage (--inject-faults, --record-trace)");
            }

            if (options.BatchIo && !device.Granted.HasFlag(UblkFeatures.BatchIo))
            {
                Log.BatchIoUnavailable(logger, device.Id);
            }

            if (engine.Tracker is { } tracker)
            {
                Log.TrackingOpened(logger, device.Id, options.TrackingMetadataPath!, tracker.RegionSize, tracker.Generation);
            }

            if (recorder is not null)
            {
                Log.Recording(logger, device.Id, options.RecordTrace!);
            }
            else if (options.RecordTrace is not null && recoverId is not null)
            {
                Log.NotRecording(logger, device.Id);
            }

            return new ServedDevice(options, target, backend, engine, device, recoverId is not null, recorder, logger);
        }
        catch
        {
            recorder?.Data?.Dispose();
            if (engine is null)
            {
                copyOnWrite?.Dispose(); // the engine owns it once built
            }

            if (engine is null || engine.Shutdown(DrainTimeout))
            {
                backend.Dispose();
                opened.Abandon();
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
    private static IBackend WithFaults(IBackend backend, DeviceOptions options, uint? recoverId, ILogger logger)
    {
        if (options.InjectFaults is not { } spec)
        {
            return backend;
        }

        string serves = options.Describe();
        if (recoverId is { } id)
        {
            Log.FaultsNotRearmed(logger, id, serves, spec);
            return backend;
        }

        Log.FaultsArmed(logger, serves, spec);
        return new FaultInjectingBackend(backend, FaultPlan.Parse(spec), f => Log.FaultInjected(
            logger, serves, f.Rule.Effect, f.Rule.Target, f.Ordinal, f.StartSector, f.SectorCount, f.Reported, f.Rule.ToString()));
    }

    /// <summary>
    /// Stops the device (the kernel flushes it while the queues still serve), drains the engine,
    /// syncs the storage through a final flush, deletes the device and closes the storage.
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
            TraceFile.Save(_recorder, Options.Ordering, SizeBytes, directory);
            Log.TraceSaved(_logger, Id, _recorder.Requests.Count, _recorder.Clock, data.Length, directory);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            Log.TraceSaveFailed(_logger, Id, directory, e.Message);
        }
    }

    /// <summary>One FLUSH through the engine after everything else: a file's fdatasync, a latched failure reported.</summary>
    private int FinalFlush()
    {
        var waiter = new RequestWaiter();
        var request = new BlockRequest(queueId: -1, tag: 0, waiter);
        request.Prepare(BlockOp.Flush, RequestFlags.None, 0, 0, RequestBuffer.None);
        Engine.Submit(request);
        return waiter.Wait(DrainTimeout) ? waiter.Result : Errno.ETIMEDOUT.ToResult();
    }
}
