using Microsoft.Extensions.Logging;

namespace LoopOrder.Service.Daemon;

/// <summary>The daemon's logs about the newer ublk features (event ids 700-799).</summary>
internal static partial class Log
{
    [LoggerMessage(EventId = 700, Level = LogLevel.Information, Message = "device {Id} ({Device}) resized from {OldBytes} to {NewBytes} bytes, its file with it")]
    public static partial void Resized(ILogger logger, uint id, string device, long oldBytes, long newBytes);
}
