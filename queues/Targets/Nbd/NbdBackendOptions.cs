using Microsoft.Extensions.Logging;

namespace LoopOrder.Queues.Targets.Nbd;

/// <summary>How an <see cref="NbdBackend"/> opens its export; every default is stated.</summary>
public sealed record NbdBackendOptions
{
    /// <summary>The export.</summary>
    public required NbdUri Uri { get; init; }

    /// <summary>Connections to open (at least 1).</summary>
    public required int Connections { get; init; }

    /// <summary>The device size in bytes, at most the export's; null for the export's whole size (rounded down to 512).</summary>
    public long? Size { get; init; }

    /// <summary>Serve read-only. A read-only export is served read-only whatever this says (the target refuses the mismatch first).</summary>
    public bool ReadOnly { get; init; }

    /// <summary>Tuning of each connection; the defaults of <see cref="NbdConnectionOptions"/>.</summary>
    public NbdConnectionOptions Connection { get; init; } = new();

    /// <summary>
    /// How long a dropped connection is retried (with backoff from <see cref="ReconnectFirstDelay"/>
    /// to <see cref="ReconnectMaxDelay"/>) before the server counts as gone for good and the
    /// device fails closed. Default 30 s: long enough for a server restart, short enough that a
    /// dead server is reported rather than waited on.
    /// </summary>
    public TimeSpan ReconnectGiveUp { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>The first retry's delay after a drop. Default 100 ms.</summary>
    public TimeSpan ReconnectFirstDelay { get; init; } = TimeSpan.FromMilliseconds(100);

    /// <summary>The longest delay between retries (each doubles the last). Default 5 s.</summary>
    public TimeSpan ReconnectMaxDelay { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>Where drops, reconnections and lost coverage are logged; null for nowhere (tests).</summary>
    public ILogger? Logger { get; init; }

    /// <summary>The device's name for logs (/dev/ublkbN once known); null for the URI alone.</summary>
    public Func<string>? DeviceName { get; init; }

    /// <summary>A deliberate breakage for the weak-server test; null everywhere else.</summary>
    public INbdSetMutant? Mutant { get; init; }
}
