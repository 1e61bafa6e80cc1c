using Microsoft.Extensions.Logging;

namespace LoopOrder.Service.Daemon;

/// <summary>Log messages of loop-order snapshot (2xx: devices).</summary>
internal static partial class Log
{
    [LoggerMessage(EventId = 230, Level = LogLevel.Information, Message = "device {Id} snapshot {Name}: {Path} ({Bytes} bytes, {Kind}); writes held {HeldMs:F1} ms (drain and sync {DrainMs:F1} ms, cut {CutMs:F1} ms)")]
    public static partial void SnapshotTaken(ILogger logger, uint id, string name, string path, long bytes, string kind, double heldMs, double drainMs, double cutMs);

    [LoggerMessage(EventId = 231, Level = LogLevel.Warning, Message = "device {Id} snapshot {Name} refused: {Reason}")]
    public static partial void SnapshotRefused(ILogger logger, uint id, string name, string reason);

    [LoggerMessage(EventId = 232, Level = LogLevel.Information, Message = "device {Id} snapshot {Name} deleted ({Path})")]
    public static partial void SnapshotDeleted(ILogger logger, uint id, string name, string path);

    [LoggerMessage(EventId = 233, Level = LogLevel.Information, Message = "device {Id} snapshot {Name} closed change-tracking generation {Generation}; writes after it are tracked in generation {Next}")]
    public static partial void GenerationClosed(ILogger logger, uint id, string name, ulong generation, ulong next);

    [LoggerMessage(EventId = 234, Level = LogLevel.Information, Message = "device {Id} tracks changes in {Path}: {RegionSize}-byte regions, generation {Generation}")]
    public static partial void TrackingOpened(ILogger logger, uint id, string path, int regionSize, ulong generation);

    [LoggerMessage(EventId = 235, Level = LogLevel.Information, Message = "device {Id} keeps copy-on-write snapshot {Name} ({Path}: {Chunks} chunks preserved)")]
    public static partial void CowStoreAdopted(ILogger logger, uint id, string name, string path, long chunks);

    [LoggerMessage(EventId = 236, Level = LogLevel.Error, Message = "copy-on-write snapshot store {Path}, listed in {Index}, cannot be kept: {Reason}; it is dropped from the list, and that snapshot is lost")]
    public static partial void CowStoreLost(ILogger logger, string path, string index, string reason);

    [LoggerMessage(EventId = 237, Level = LogLevel.Error, Message = "copy-on-write snapshot {Name} ({Path}) failed to keep a chunk and is marked invalid; the device goes on: {Reason}")]
    public static partial void CowStoreFailed(ILogger logger, string name, string path, string reason);

    [LoggerMessage(EventId = 238, Level = LogLevel.Information, Message = "device {Id} snapshot {Name} exported to {Path} ({Bytes} bytes, {DataBytes} with data, {Method}) in {Ms:F0} ms")]
    public static partial void SnapshotExported(ILogger logger, uint id, string name, string path, long bytes, long dataBytes, string method, double ms);

    [LoggerMessage(EventId = 239, Level = LogLevel.Information, Message = "device {Id} snapshot {Name} backed up to {Path} (since {Since}): {ChangedBytes} bytes of changes, image {ImageBytes} bytes, in {Ms:F0} ms")]
    public static partial void BackupWritten(ILogger logger, uint id, string name, string path, string since, long changedBytes, long imageBytes, double ms);

    [LoggerMessage(EventId = 240, Level = LogLevel.Information, Message = "device {Id}: {Count} change-tracking generation(s) no snapshot can ask for any more given back (through generation {Through})")]
    public static partial void GenerationsPruned(ILogger logger, uint id, int count, ulong through);

    [LoggerMessage(EventId = 241, Level = LogLevel.Warning, Message = "device {Id}: old change-tracking generations could not be given back ({Reason}); they stay in FILE.cbt")]
    public static partial void GenerationsNotPruned(ILogger logger, uint id, string reason);
}
