using Microsoft.Extensions.Logging;

namespace LoopOrder.Service.Daemon;

/// <summary>The daemon's logs about the newer ublk features (event ids 700-799).</summary>
internal static partial class Log
{
    [LoggerMessage(EventId = 700, Level = LogLevel.Information, Message = "device {Id} ({Device}) resized from {OldBytes} to {NewBytes} bytes, {Storage} with it")]
    public static partial void Resized(ILogger logger, uint id, string device, string storage, long oldBytes, long newBytes);

    [LoggerMessage(EventId = 701, Level = LogLevel.Information, Message = "device {Id} ({Device}) follows {Storage}, resized from outside: {OldBytes} -> {NewBytes} bytes")]
    public static partial void StorageFollowed(ILogger logger, uint id, string device, string storage, long oldBytes, long newBytes);

    [LoggerMessage(EventId = 702, Level = LogLevel.Warning, Message = "device {Id}: {Storage} is now {StorageBytes} bytes; the device stays {DeviceBytes} bytes: {Why}")]
    public static partial void StorageResizedKept(ILogger logger, uint id, string storage, long storageBytes, long deviceBytes, string why);

    [LoggerMessage(EventId = 703, Level = LogLevel.Error, Message = "device {Id}: following {Storage}'s new size failed: {Reason}; the device keeps its size")]
    public static partial void StorageFollowFailed(ILogger logger, uint id, string storage, string reason);

    [LoggerMessage(EventId = 704, Level = LogLevel.Warning, Message = "device {Id}: --zero-copy on asked, copying instead: {Why}")]
    public static partial void ZeroCopyUnavailable(ILogger logger, uint id, string why);

    [LoggerMessage(EventId = 705, Level = LogLevel.Information, Message = "device {Id}: --batch-io asked, one command per request instead: the kernel does not offer UBLK_F_BATCH_IO (7.0+)")]
    public static partial void BatchIoUnavailable(ILogger logger, uint id);
}
