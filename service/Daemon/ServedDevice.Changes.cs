using LoopOrder.Queues.Tracking;
using LoopOrder.Service.Control;

namespace LoopOrder.Service.Daemon;

/// <summary>loop-order changes: the extents changed between two snapshots, from the change tracker's generations.</summary>
public sealed partial class ServedDevice
{
    /// <summary>The refusal for a device without changed-block tracking.</summary>
    public const string NotTracking = "the device does not track changes; add it with --track-changes";

    /// <summary>The word for "up to the current generation" in place of a later snapshot's name.</summary>
    public const string Now = "now";

    /// <summary>
    /// The extents changed after snapshot <paramref name="since"/> up to snapshot
    /// <paramref name="until"/> (null or "now": up to now, writes not yet landed included):
    /// the union of the tracking generations in between, whole regions, coalesced, the last one
    /// clipped to the device's end. Throws a <see cref="ServiceException"/>: no tracking (69),
    /// an unknown snapshot or one taken without tracking (66), <paramref name="until"/> older
    /// than <paramref name="since"/> (64), a lost generation record (74).
    /// </summary>
    /// <param name="since">The earlier snapshot.</param>
    /// <param name="until">The later snapshot, or null or "now".</param>
    public List<ChangedExtent> Changes(string since, string? until)
    {
        ArgumentNullException.ThrowIfNull(since);
        ChangeTracker tracker = Engine.Tracker ?? throw new ServiceException(ExitCodes.Unavailable, $"device {Id}: {NotTracking}.");
        ulong from = GenerationOf(since);
        ulong? through = until is null or Now ? null : GenerationOf(until);
        if (through < from)
        {
            throw new ServiceException(ExitCodes.Usage, $"snapshot {until} is older than {since}: give --since the older one.");
        }

        RegionMap changed;
        try
        {
            changed = tracker.ChangedSince(from, through);
        }
        catch (InvalidDataException e)
        {
            throw new ServiceException(ExitCodes.IoError, $"device {Id}: {e.Message}.", e);
        }

        long size = SizeBytes;
        var extents = new List<ChangedExtent>();
        foreach ((long first, long count) in changed.Runs())
        {
            long offset = first * tracker.RegionSize;
            if (offset < size)
            {
                extents.Add(new ChangedExtent { Offset = offset, Length = Math.Min(count * tracker.RegionSize, size - offset) });
            }
        }

        return extents;
    }

    /// <summary>
    /// After a snapshot is deleted: gives back the tracking generations no remaining snapshot can
    /// ask for (all closed ones when none is left). A failure is logged and changes nothing.
    /// </summary>
    internal void PruneGenerations()
    {
        if (Engine.Tracker is not { } tracker)
        {
            return;
        }

        ulong through = Snapshots.Where(s => s.Generation is not null).Select(s => s.Generation!.Value).DefaultIfEmpty(ulong.MaxValue).Min();
        try
        {
            int pruned = tracker.Prune(through);
            if (pruned > 0)
            {
                Log.GenerationsPruned(_logger, Id, pruned, Math.Min(through, tracker.Generation - 1));
            }
        }
        catch (IOException e)
        {
            Log.GenerationsNotPruned(_logger, Id, e.Message);
        }
    }

    /// <summary>The generation snapshot <paramref name="name"/> closed.</summary>
    private ulong GenerationOf(string name)
    {
        return SnapshotNamed(name).Generation
            ?? throw new ServiceException(ExitCodes.NoInput, $"snapshot {name} of device {Id} was taken without change tracking: the changes since it are unknown; take a new snapshot and a full backup.");
    }
}
