using Microsoft.Extensions.Logging;

namespace LoopOrder.Ublk.Device;

/// <summary>
/// Settings of a started block device's request queue, through sysfs (/sys/block/NAME/queue):
/// what the server sets once, after START_DEV created the disk. Best effort: a sysfs that refuses
/// (read-only, unprivileged, an unknown scheduler) leaves the device working as the kernel made it.
/// </summary>
public static partial class BlockQueueSettings
{
    /// <summary>The scheduler name that means none: requests go from the submitter straight to the driver.</summary>
    public const string NoScheduler = "none";

    /// <summary>The sysfs file of <paramref name="blockDevice"/>'s I/O scheduler.</summary>
    /// <param name="blockDevice">/dev/NAME.</param>
    /// <param name="sysBlock">The sysfs block folder (tests point it elsewhere).</param>
    /// <returns>SYSBLOCK/NAME/queue/scheduler.</returns>
    public static string SchedulerPath(string blockDevice, string sysBlock = "/sys/block") =>
        Path.Combine(sysBlock, Path.GetFileName(blockDevice), "queue", "scheduler");

    /// <summary>
    /// Writes <paramref name="scheduler"/> into <paramref name="blockDevice"/>'s queue/scheduler.
    /// False, with a warning logged, when sysfs refused it.
    /// </summary>
    /// <param name="blockDevice">/dev/NAME of a started disk.</param>
    /// <param name="scheduler">A scheduler name the kernel knows (none, mq-deadline, ...).</param>
    /// <param name="logger">Where a refusal is reported.</param>
    /// <param name="sysBlock">The sysfs block folder (tests point it elsewhere).</param>
    /// <returns>True when written.</returns>
    public static bool TrySetScheduler(string blockDevice, string scheduler, ILogger logger, string sysBlock = "/sys/block")
    {
        ArgumentException.ThrowIfNullOrEmpty(blockDevice);
        ArgumentException.ThrowIfNullOrEmpty(scheduler);
        ArgumentNullException.ThrowIfNull(logger);
        string path = SchedulerPath(blockDevice, sysBlock);
        try
        {
            File.WriteAllText(path, scheduler);
            LogSchedulerSet(logger, blockDevice, scheduler);
            return true;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            LogSchedulerRefused(logger, blockDevice, scheduler, e.Message);
            return false;
        }
    }

    [LoggerMessage(Level = LogLevel.Debug, Message = "{Device}: I/O scheduler {Scheduler}")]
    private static partial void LogSchedulerSet(ILogger logger, string device, string scheduler);

    [LoggerMessage(Level = LogLevel.Warning, Message = "{Device}: could not set the I/O scheduler to {Scheduler} ({Reason}); keeping the kernel's")]
    private static partial void LogSchedulerRefused(ILogger logger, string device, string scheduler, string reason);
}
