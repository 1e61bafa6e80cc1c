using LoopOrder.Interop.Rbd;
using Microsoft.Extensions.Logging;

namespace LoopOrder.Queues.Targets.Rbd;

/// <summary>What <see cref="RbdBackend.Open"/> opens.</summary>
public sealed class RbdBackendOptions
{
    /// <summary>The cluster, pool and image, and how librbd is set up.</summary>
    public required RbdOpenOptions Image { get; init; }

    /// <summary>The device size, or null for the image's; never more than the image.</summary>
    public long? Size { get; init; }

    /// <summary>
    /// How long to keep asking for the image's exclusive lock while another client holds it:
    /// zero refuses at once (a new device: the image is someone else's). A restarted daemon
    /// reattaching its device waits, since the holder may be its own killed predecessor, whose
    /// lock the cluster breaks once that client's watch times out (osd_client_watch_timeout,
    /// 30 s by default).
    /// </summary>
    public TimeSpan LockWait { get; init; }

    /// <summary>Where to log; null for nowhere.</summary>
    public ILogger? Logger { get; init; }

    /// <summary>The device's name for logs, read when logging.</summary>
    public Func<string>? DeviceName { get; init; }
}
