using System.Globalization;
using LoopOrder.Interop;
using LoopOrder.Queues.Engine;
using LoopOrder.Queues.Targets.File;
using LoopOrder.Service.Control;

namespace LoopOrder.Service.Daemon;

/// <summary>loop-order snapshot: a reflink of the backing file cut at a barrier in the receive order.</summary>
public sealed partial class ServedDevice
{
    /// <summary>The message for a backing file on a filesystem without reflinks (ext4, tmpfs).</summary>
    public const string NoReflink = "the backing file's filesystem has no reflink (btrfs or xfs); the copy-on-write snapshot for ext4 is not built yet";

    /// <summary>How long a snapshot waits for the writes before it to land and sync.</summary>
    private static readonly TimeSpan BarrierTimeout = TimeSpan.FromSeconds(60);

    /// <summary>This device's snapshots, oldest first (the device manager records them; guarded by its lock).</summary>
    public List<SnapshotRecord> Snapshots { get; } = [];

    /// <summary>
    /// Takes snapshot <paramref name="name"/>: a barrier in the receive order, the backing file
    /// fdatasynced, then cloned (FICLONE) to <paramref name="to"/> while writes received after the
    /// barrier are held, then they are released. The snapshot holds every write received before
    /// the barrier, so every one acknowledged before this call, and none received after it.
    /// Throws a <see cref="ServiceException"/> with nothing left behind (no file; held writes
    /// released): a bad or used name, an existing path, a target that is not a file (64), a
    /// filesystem without reflink (69), a failed write or sync of the device (74).
    /// </summary>
    /// <param name="name">The snapshot's name: letters, digits, '.', '_', '-', at most 64, not starting with '.'.</param>
    /// <param name="to">Its file; null for <c>FILE.snap-NAME</c> next to the backing file.</param>
    public SnapshotRecord Snapshot(string name, string? to)
    {
        ArgumentNullException.ThrowIfNull(name);
        if (NameProblem(name) is { } problem)
        {
            throw new ServiceException(ExitCodes.Usage, problem);
        }

        if (Target.Name != FileTarget.TargetName || Options.File is not { } file)
        {
            throw new ServiceException(ExitCodes.Usage, $"device {Id} serves {Describe()}: snapshots need the file target.");
        }

        if (Snapshots.Find(s => s.Name == name) is { } used)
        {
            throw new ServiceException(ExitCodes.Usage, $"device {Id} already has a snapshot named {name} ({used.Path}); pick another name or delete it first (loop-order snapshot delete {Id} {name}).");
        }

        string path = Path.GetFullPath(to ?? file + ".snap-" + name);
        if (File.Exists(path) || Directory.Exists(path))
        {
            throw new ServiceException(ExitCodes.Usage, $"{path} exists; a snapshot never overwrites a file: give another --to, or remove it.");
        }

        SafeFileDescriptor destination;
        try
        {
            // O_EXCL: a file that appears between the check and here is not overwritten either.
            destination = FileDescriptor.Open(path, OpenFlags.ReadWrite | OpenFlags.Create | OpenFlags.Exclusive, mode: 0x180); // 0600: a disk image's data
        }
        catch (ErrnoException e)
        {
            throw new ServiceException(e.Errno == Errno.EEXIST ? ExitCodes.Usage : ExitCodes.NoInput, $"cannot create the snapshot file: {e.Message}", e);
        }

        SnapshotBarrierResult result;
        long bytes;
        try
        {
            using (destination)
            {
                using SafeFileDescriptor source = FileDescriptor.Open(file, OpenFlags.ReadOnly);
                result = Engine.Snapshot(() => Clone(destination, source, path), BarrierTimeout);

                // After the release: making the clone durable need not hold anyone's writes.
                FileDescriptor.DataSync(destination);
                bytes = FileDescriptor.GetSize(destination);
            }
        }
        catch (Exception e)
        {
            // Nothing left behind: not even an empty file.
            FileDescriptor.TryUnlink(path);
            ServiceException s = e switch
            {
                ServiceException already => already,
                TimeoutException => new ServiceException(ExitCodes.IoError, $"device {Id}: {e.Message}", e),
                ErrnoException { Operation: "snapshot barrier flush" } => new ServiceException(ExitCodes.IoError, $"device {Id}: {e.Message}", e),
                _ => ServiceErrors.From(e),
            };
            Log.SnapshotRefused(_logger, Id, name, s.Message);
            throw s;
        }

        var record = new SnapshotRecord
        {
            Name = name,
            Path = path,
            Bytes = bytes,
            Created = DateTimeOffset.UtcNow,
            Barrier = result.BarrierSequence,
            WritesHeldMs = result.WritesHeld.TotalMilliseconds,
            DrainMs = result.Drain.TotalMilliseconds,
            CutMs = result.Cut.TotalMilliseconds,
            Generation = result.ClosedGeneration == 0 ? null : result.ClosedGeneration,
        };
        Snapshots.Add(record);
        Log.SnapshotTaken(_logger, Id, name, path, bytes, record.WritesHeldMs, record.DrainMs, record.CutMs);
        if (record.Generation is { } closed)
        {
            Log.GenerationClosed(_logger, Id, name, closed, closed + 1);
        }
        return record;
    }

    /// <summary>Snapshot <paramref name="name"/>; an unknown name is a <see cref="ServiceException"/> (66).</summary>
    public SnapshotRecord SnapshotNamed(string name) =>
        Snapshots.Find(s => s.Name == name)
            ?? throw new ServiceException(ExitCodes.NoInput, $"device {Id} has no snapshot named {name}; see loop-order snapshot list {Id}.");

    /// <summary>Why <paramref name="name"/> cannot name a snapshot, or null: it becomes part of a file name.</summary>
    public static string? NameProblem(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        bool ok = name.Length is > 0 and <= 64 && name[0] != '.' && name.All(c => char.IsAsciiLetterOrDigit(c) || c is '.' or '_' or '-');
        return ok ? null : string.Create(CultureInfo.InvariantCulture, $"'{name}' is not a snapshot name: use 1 to 64 letters, digits, '.', '_' or '-', not starting with '.'.");
    }

    /// <summary>The cut, while writes are held: FICLONE, or a refusal that names why.</summary>
    private void Clone(SafeFileDescriptor destination, SafeFileDescriptor source, string path)
    {
        Errno errno = Reflink.TryClone(destination, source);
        if (errno == Errno.None)
        {
            return;
        }

        throw errno switch
        {
            Errno.EXDEV => new ServiceException(ExitCodes.Unavailable, $"{path} is on another filesystem than the backing file {Options.File}: a reflink needs both on one btrfs or xfs; give a --to on the backing file's filesystem."),
            _ when Reflink.IsUnsupported(errno) => new ServiceException(ExitCodes.Unavailable, $"{NoReflink} (FICLONE: {errno.Describe()})."),
            _ => ErrnoException.FromErrno(errno, "ioctl(FICLONE)", path),
        };
    }
}
