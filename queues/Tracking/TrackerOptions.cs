namespace LoopOrder.Queues.Tracking;

/// <summary>
/// Changed-block tracking of one device (<see cref="Engine.EngineOptions.Tracking"/>): where its
/// metadata lives and how coarse its regions are.
/// </summary>
public sealed record TrackerOptions
{
    /// <summary>Default <see cref="RegionSize"/>: 64 KiB, dm-era's and qemu's usual granularity.</summary>
    public const int DefaultRegionSize = 64 * 1024;

    /// <summary>The metadata file (created if missing; the directory must exist). Required.</summary>
    public required string MetadataPath { get; init; }

    /// <summary>
    /// Bytes a bit stands for: a power of two and a multiple of the logical block size. Default
    /// <see cref="DefaultRegionSize"/>. Coarser regions mean fewer first touches (each costs a
    /// metadata sync) and bigger incremental backups.
    /// </summary>
    public int RegionSize { get; init; } = DefaultRegionSize;

    /// <summary>
    /// No commit thread: commits run only when <see cref="ChangeTracker.RunCommit"/> is called. For
    /// deterministic tests and the checker; off in production.
    /// </summary>
    public bool ManualCommits { get; init; }
}
