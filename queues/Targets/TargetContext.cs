using Microsoft.Extensions.Logging;

namespace LoopOrder.Queues.Targets;

/// <summary>What a target gets when it opens a device: where to log, and the device's name once the kernel gave it one.</summary>
/// <param name="Logger">The daemon's log.</param>
/// <param name="BlockDevice">The /dev/ublkbN path, or "(starting)" before the kernel device exists; a backend may log from a worker thread at any time.</param>
public sealed record TargetContext(ILogger Logger, Func<string> BlockDevice);
