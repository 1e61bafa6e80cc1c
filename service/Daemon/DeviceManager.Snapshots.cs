using LoopOrder.Interop;
using LoopOrder.Service.Control;

namespace LoopOrder.Service.Daemon;

/// <summary>loop-order snapshot, snapshot list, snapshot delete: a device's snapshots, kept in its record.</summary>
public sealed partial class DeviceManager
{
    /// <summary>
    /// Takes snapshot <paramref name="name"/> of device <paramref name="id"/> (see
    /// <see cref="ServedDevice.Snapshot"/>) and records it, so a restarted daemon still knows it.
    /// </summary>
    /// <param name="id">The device.</param>
    /// <param name="name">The snapshot's name.</param>
    /// <param name="to">Its file, or null for next to the backing file.</param>
    /// <param name="kind">"reflink", "cow", or null/"auto".</param>
    public SnapshotRecord Snapshot(uint id, string name, string? to, string? kind = null)
    {
        ArgumentNullException.ThrowIfNull(name);
        lock (_gate)
        {
            ThrowIfStopping();
            ServedDevice device = Served(id);
            SnapshotRecord snapshot = device.Snapshot(name, to, kind);
            try
            {
                _records.Save(RecordOf(device));
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                // A snapshot nobody could find after a restart is one left behind: undo it.
                device.Snapshots.Remove(snapshot);
                try
                {
                    device.RemoveSnapshotFiles(snapshot);
                }
                catch (ServiceException)
                {
                    // Left listed in FILE.cow at worst: the next start keeps it, and list shows it.
                }

                throw new ServiceException(ExitCodes.OsError, $"cannot record snapshot {name} of device {id} in {_records.Directory}: {e.Message}; the snapshot was removed", e);
            }

            return snapshot;
        }
    }

    /// <summary>Device <paramref name="id"/>'s snapshots, oldest first.</summary>
    /// <param name="id">The device.</param>
    public List<SnapshotRecord> Snapshots(uint id)
    {
        lock (_gate)
        {
            ServedDevice device = Served(id);
            return [.. device.Snapshots.Select(device.Refreshed)];
        }
    }

    /// <summary>Deletes snapshot <paramref name="name"/> of device <paramref name="id"/>: its file, then the record of it.</summary>
    /// <param name="id">The device.</param>
    /// <param name="name">The snapshot.</param>
    public SnapshotRecord DeleteSnapshot(uint id, string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        lock (_gate)
        {
            ServedDevice device = Served(id);
            SnapshotRecord snapshot = device.SnapshotNamed(name);
            device.RemoveSnapshotFiles(snapshot);
            device.Snapshots.Remove(snapshot);
            device.PruneGenerations();
            _records.Save(RecordOf(device));
            Log.SnapshotDeleted(_logger, id, name, snapshot.Path);
            return snapshot;
        }
    }

    /// <summary>
    /// Writes snapshot <paramref name="name"/> of device <paramref name="id"/> as a raw image (see
    /// <see cref="ServedDevice.Export"/>). Under the manager's lock, so no delete can pull the
    /// store away meanwhile; other control calls wait for it.
    /// </summary>
    public SnapshotExport ExportSnapshot(uint id, string name, string to)
    {
        ArgumentNullException.ThrowIfNull(name);
        ArgumentNullException.ThrowIfNull(to);
        lock (_gate)
        {
            return Served(id).Export(name, to);
        }
    }

    /// <summary>
    /// Backs up device <paramref name="id"/> (see <see cref="ServedDevice.Backup"/>) and records
    /// the snapshot it took, with its backup, so the next increment finds its base after a restart.
    /// </summary>
    public BackupReport Backup(uint id, string name, string to, string? since)
    {
        ArgumentNullException.ThrowIfNull(name);
        ArgumentNullException.ThrowIfNull(to);
        lock (_gate)
        {
            ThrowIfStopping();
            ServedDevice device = Served(id);
            try
            {
                return device.Backup(name, to, since);
            }
            finally
            {
                // The snapshot stays even when writing the backup failed: record whatever was taken.
                _records.Save(RecordOf(device));
            }
        }
    }

    /// <summary>Device <paramref name="id"/>'s changed extents between two snapshots (see <see cref="ServedDevice.Changes"/>).</summary>
    /// <param name="id">The device.</param>
    /// <param name="since">The earlier snapshot.</param>
    /// <param name="until">The later snapshot, or null or "now".</param>
    public List<ChangedExtent> Changes(uint id, string since, string? until)
    {
        ArgumentNullException.ThrowIfNull(since);
        lock (_gate)
        {
            return Served(id).Changes(since, until);
        }
    }
}
