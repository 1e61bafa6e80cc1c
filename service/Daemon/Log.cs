using LoopOrder.Queues.Ordering;
using LoopOrder.Verification.Faults;
using Microsoft.Extensions.Logging;

namespace LoopOrder.Service.Daemon;

/// <summary>
/// The daemon's log messages, source-generated, each with a stable event id so the journal can be
/// filtered on them (1xx lifecycle, 2xx devices, 3xx recovery, 4xx control socket, 5xx systemd).
/// </summary>
internal static partial class Log
{
    [LoggerMessage(EventId = 100, Level = LogLevel.Information, Message = "loop-order daemon starting (pid {Pid}); runtime directory {RuntimeDirectory}")]
    public static partial void Starting(ILogger logger, int pid, string runtimeDirectory);

    [LoggerMessage(EventId = 101, Level = LogLevel.Information, Message = "ready: {Devices} device(s) served, control socket {Socket}")]
    public static partial void Ready(ILogger logger, int devices, string socket);

    [LoggerMessage(EventId = 102, Level = LogLevel.Information, Message = "stopping: no new requests; draining and deleting {Devices} device(s)")]
    public static partial void StoppingDaemon(ILogger logger, int devices);

    [LoggerMessage(EventId = 103, Level = LogLevel.Information, Message = "stopped")]
    public static partial void Stopped(ILogger logger);

    [LoggerMessage(EventId = 104, Level = LogLevel.Critical, Message = "cannot start: {Reason}")]
    public static partial void StartFailed(ILogger logger, string reason);

    [LoggerMessage(EventId = 200, Level = LogLevel.Information, Message = "device {Id} added: {BlockDevice} serves {Serves} ({Bytes} bytes, {Queues} queue(s) x {Depth}, ordering {Ordering}, flags {Flags})")]
    public static partial void Added(ILogger logger, uint id, string blockDevice, string serves, long bytes, int queues, int depth, OrderingMode ordering, string flags);

    [LoggerMessage(EventId = 201, Level = LogLevel.Information, Message = "device {Id}: stopping {BlockDevice}")]
    public static partial void Stopping(ILogger logger, uint id, string blockDevice);

    [LoggerMessage(EventId = 202, Level = LogLevel.Information, Message = "device {Id}: {BlockDevice} stopped and deleted; {Serves} is synced")]
    public static partial void Deleted(ILogger logger, uint id, string blockDevice, string serves);

    [LoggerMessage(EventId = 210, Level = LogLevel.Information, Message = "device {Id}: {Flushes} flushes, {Syncs} syncs (at most {PeakSyncs} at once); flushes waited {WaitWritesMs:F1} ms for earlier writes, {WaitSyncsMs:F1} ms on other syncs, {InSyncMs:F1} ms in their own sync; syncs ran {SyncMs:F1} ms")]
    public static partial void FlushSummary(ILogger logger, uint id, long flushes, long syncs, int peakSyncs, double waitWritesMs, double waitSyncsMs, double inSyncMs, double syncMs);

    [LoggerMessage(EventId = 203, Level = LogLevel.Error, Message = "device {Id}: the final flush of {Serves} failed: {Error}")]
    public static partial void FinalFlushFailed(ILogger logger, uint id, string serves, string error);

    [LoggerMessage(EventId = 204, Level = LogLevel.Warning, Message = "add refused: {Reason}")]
    public static partial void AddRefused(ILogger logger, string reason);

    [LoggerMessage(EventId = 260, Level = LogLevel.Warning, Message = "{File}: TEST fault injection armed: {Spec}")]
    public static partial void FaultsArmed(ILogger logger, string file, string spec);

    [LoggerMessage(EventId = 261, Level = LogLevel.Warning, Message = "{File}: injected {Effect} into {Target} #{Ordinal} (sectors {StartSector}+{SectorCount}), reported {Reported} (rule {Rule})")]
    public static partial void FaultInjected(ILogger logger, string file, FaultEffect effect, FaultTarget target, long ordinal, ulong startSector, uint sectorCount, int reported, string rule);

    [LoggerMessage(EventId = 262, Level = LogLevel.Warning, Message = "device {Id} ({File}) recovered without its test faults ({Spec}): they are not re-armed after a restart")]
    public static partial void FaultsNotRearmed(ILogger logger, uint id, string file, string spec);

    [LoggerMessage(EventId = 300, Level = LogLevel.Information, Message = "device {Id} recovered: {BlockDevice} reattached to {Serves}")]
    public static partial void Recovered(ILogger logger, uint id, string blockDevice, string serves);

    [LoggerMessage(EventId = 301, Level = LogLevel.Error, Message = "device {Id} could not be recovered: {Reason}; retry with loop-order recover {Id}")]
    public static partial void RecoverFailed(ILogger logger, uint id, string reason);

    [LoggerMessage(EventId = 304, Level = LogLevel.Warning, Message = "device {Id} served {Target}, whose contents died with the daemon that served it: deleted, not reattached")]
    public static partial void NotPersistentDeleted(ILogger logger, uint id, string target);

    [LoggerMessage(EventId = 302, Level = LogLevel.Information, Message = "device {Id} is recorded but the kernel no longer has it; record removed")]
    public static partial void RecordStale(ILogger logger, uint id);

    [LoggerMessage(EventId = 303, Level = LogLevel.Warning, Message = "unreadable device record {Path}: {Reason}")]
    public static partial void RecordUnreadable(ILogger logger, string path, string reason);

    [LoggerMessage(EventId = 400, Level = LogLevel.Information, Message = "control socket listening on {Socket}")]
    public static partial void Listening(ILogger logger, string socket);

    [LoggerMessage(EventId = 401, Level = LogLevel.Warning, Message = "control socket {Socket} belongs to a running daemon; this one serves its devices without a control socket")]
    public static partial void SocketInUse(ILogger logger, string socket);

    [LoggerMessage(EventId = 402, Level = LogLevel.Warning, Message = "control connection refused: peer uid {Uid} is not root")]
    public static partial void PeerRefused(ILogger logger, uint uid);

    [LoggerMessage(EventId = 403, Level = LogLevel.Information, Message = "control request {Op} answered with exit code {ExitCode}")]
    public static partial void Request(ILogger logger, string op, int exitCode);

    [LoggerMessage(EventId = 404, Level = LogLevel.Warning, Message = "control connection failed")]
    public static partial void ConnectionFailed(ILogger logger, Exception exception);

    [LoggerMessage(EventId = 500, Level = LogLevel.Debug, Message = "systemd watchdog: WATCHDOG=1 every {Interval}")]
    public static partial void WatchdogStarted(ILogger logger, TimeSpan interval);

    [LoggerMessage(EventId = 501, Level = LogLevel.Warning, Message = "systemd notification failed: {Reason}")]
    public static partial void NotifyFailed(ILogger logger, string reason);

    [LoggerMessage(EventId = 600, Level = LogLevel.Warning, Message = "device {Id} records a trace into {Directory} (--testing --record-trace): every written byte is copied")]
    public static partial void Recording(ILogger logger, uint id, string directory);

    [LoggerMessage(EventId = 601, Level = LogLevel.Information, Message = "device {Id}: trace of {Requests} requests, {Events} events, {DataBytes} bytes of write data saved in {Directory}")]
    public static partial void TraceSaved(ILogger logger, uint id, int requests, long events, long dataBytes, string directory);

    [LoggerMessage(EventId = 602, Level = LogLevel.Error, Message = "device {Id}: the trace could not be saved in {Directory}: {Reason}")]
    public static partial void TraceSaveFailed(ILogger logger, uint id, string directory, string reason);

    [LoggerMessage(EventId = 603, Level = LogLevel.Warning, Message = "device {Id} was recovered: its trace is not recorded (it would lack what the killed daemon saw)")]
    public static partial void NotRecording(ILogger logger, uint id);
}
