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
    /// How long to keep asking for the image's exclusive lock while librbd says another client
    /// holds it; zero refuses at once (a new device: the image is someone else's). librbd itself
    /// waits out a holder that died (its watch times out after osd_client_watch_timeout, 30 s by
    /// default, then librbd breaks the lock and blocklists it); a restarted daemon reattaching its
    /// device retries beyond that, in case the cluster still counted its killed predecessor alive.
    /// </summary>
    public TimeSpan LockWait { get; init; }

    /// <summary>Where to log; null for nowhere.</summary>
    public ILogger? Logger { get; init; }

    /// <summary>The device's name for logs, read when logging.</summary>
    public Func<string>? DeviceName { get; init; }
}
