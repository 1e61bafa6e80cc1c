using System.Globalization;
using LoopOrder.Interop;
using LoopOrder.Queues.Engine;
using LoopOrder.Queues.Snapshots;
using LoopOrder.Queues.Targets.File;
using LoopOrder.Service.Control;

namespace LoopOrder.Service.Daemon;

/// <summary>loop-order snapshot: a reflink of the backing file cut at a barrier in the receive order.</summary>
public sealed partial class ServedDevice
{
    /// <summary><see cref="SnapshotRecord.Kind"/> of a reflink snapshot.</summary>
    public const string ReflinkKind = "reflink";

    /// <summary><see cref="SnapshotRecord.Kind"/> of a copy-on-write snapshot.</summary>
    public const string CowKind = "cow";

    /// <summary>The message for a reflink asked of a filesystem without reflinks (ext4, tmpfs).</summary>
    public const string NoReflink = "the backing file's filesystem has no reflink (btrfs or xfs); leave out --kind reflink for a copy-on-write snapshot";

    /// <summary>How long a snapshot waits for the writes before it to land and sync.</summary>
    private static readonly TimeSpan BarrierTimeout = TimeSpan.FromSeconds(60);

    /// <summary>This device's snapshots, oldest first (the device manager records them; guarded by its lock).</summary>
    public List<SnapshotRecord> Snapshots { get; } = [];

    /// <summary>
    /// Takes snapshot <paramref name="name"/>: a barrier in the receive order, the backing file
    /// fdatasynced, then, while writes received after the barrier are held, either cloned
    /// (FICLONE) to <paramref name="to"/>, or (no reflink there, or <paramref name="kind"/> "cow")
    /// a copy-on-write store made at <paramref name="to"/> and listed in FILE.cow; then they are
    /// released. The snapshot holds every write received before the barrier, so every one
    /// acknowledged before this call, and none received after it. Throws a
    /// <see cref="ServiceException"/> with nothing left behind (no file; held writes released): a
    /// bad or used name, an existing path, a target that is not a file (64), a reflink asked of a
    /// filesystem without them or a store that would not fit (69), a failed write or sync (74).
    /// </summary>
    /// <param name="name">The snapshot's name: letters, digits, '.', '_', '-', at most 64, not starting with '.'.</param>
    /// <param name="to">Its file; null for <c>FILE.snap-NAME</c> next to the backing file.</param>
    /// <param name="kind">"reflink", "cow", or null or "auto": a reflink where the filesystem has them, else copy-on-write.</param>
    public SnapshotRecord Snapshot(string name, string? to, string? kind = null)
    {
        ArgumentNullException.ThrowIfNull(name);
        if (NameProblem(name) is { } problem)
        {
            throw new ServiceException(ExitCodes.Usage, problem);
        }

        kind = kind is null or "auto" ? null : kind;
        if (kind is not (null or ReflinkKind or CowKind))
        {
            throw new ServiceException(ExitCodes.Usage, $"'{kind}' is not a snapshot kind: use auto (the default), reflink or cow.");
        }

        if (Target.Name != FileTarget.TargetName || Options.File is not { } file || Engine.CopyOnWrite is not { } gate)
        {
            throw new ServiceException(ExitCodes.Usage, $"device {Id} serves {Describe()}: snapshots need the file target.");
        }

        if (Snapshots.Find(s => s.Name == name) is { } used)
        {
            throw new ServiceException(ExitCodes.Usage, $"device {Id} already has a snapshot named {name} ({used.Path}); pick another name or delete it first (loop-order snapshot delete {Id} {name}).");
        }

        string path = Path.GetFullPath(to ?? file + ".snap-" + name);
        long deviceBytes = Backend.Length;
        if (kind == CowKind)
        {
            ThrowIfStoreWontFit(path, deviceBytes);
        }

        SafeFileDescriptor destination = CreateExclusive(path, "a snapshot");
        SnapshotBarrierResult result;
        long bytes;
        string made = ReflinkKind;
        CowStore? store = null;
        try
        {
            using SafeFileDescriptor source = FileDescriptor.Open(file, OpenFlags.ReadOnly);
            result = Engine.Snapshot(() =>
            {
                if (kind != CowKind && TryClone(destination, source, path, mayFallBack: kind is null))
                {
                    return;
                }

                // Copy-on-write: the store, durable with its directory entry, then listed in the
                // index, durably, then kept by the gate, all while later writes are held.
                made = CowKind;
                if (kind is null)
                {
                    ThrowIfStoreWontFit(path, deviceBytes);
                }

                store = CowStore.Create(destination, path, new CowStoreHeader(name, gate.ChunkSize, deviceBytes, 0, DateTimeOffset.UtcNow));
                CowIndex.Write(file, [.. CowIndex.Read(file).Where(p => p != path), path]);
                gate.Add(store);
            }, BarrierTimeout);

            if (made == ReflinkKind)
            {
                // After the release: making the clone durable need not hold anyone's writes.
                FileDescriptor.DataSync(destination);
                bytes = FileDescriptor.GetSize(destination);
                destination.Dispose();
            }
            else
            {
                bytes = deviceBytes;
            }
        }
        catch (Exception e)
        {
            // Nothing left behind: not even an empty file, nor a store the index or the gate keep.
            if (store is not null)
            {
                gate.Remove(store);
                try
                {
                    CowIndex.Write(file, CowIndex.Read(file).Where(p => p != path));
                }
                catch (IOException)
                {
                    // Listed but gone: the next start drops it from the index and logs it.
                }

                store.Dispose();
            }
            else
            {
                destination.Dispose();
            }

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
            Kind = made,
            Bytes = bytes,
            StoreBytes = store?.Bytes,
            Created = DateTimeOffset.UtcNow,
            Barrier = result.BarrierSequence,
            WritesHeldMs = result.WritesHeld.TotalMilliseconds,
            DrainMs = result.Drain.TotalMilliseconds,
            CutMs = result.Cut.TotalMilliseconds,
            Generation = result.ClosedGeneration == 0 ? null : result.ClosedGeneration,
        };
        Snapshots.Add(record);
        Log.SnapshotTaken(_logger, Id, name, path, bytes, made, record.WritesHeldMs, record.DrainMs, record.CutMs);
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

    /// <summary>
    /// The cut, while writes are held: FICLONE; false when the filesystem cannot (no reflink, or
    /// another filesystem) and <paramref name="mayFallBack"/> lets a copy-on-write store be made
    /// instead; otherwise a refusal that names why.
    /// </summary>
    private bool TryClone(SafeFileDescriptor destination, SafeFileDescriptor source, string path, bool mayFallBack)
    {
        Errno errno = Reflink.TryClone(destination, source);
        if (errno == Errno.None)
        {
            return true;
        }

        if (mayFallBack && (errno == Errno.EXDEV || Reflink.IsUnsupported(errno)))
        {
            return false;
        }

        throw errno switch
        {
            Errno.EXDEV => new ServiceException(ExitCodes.Unavailable, $"{path} is on another filesystem than the backing file {Options.File}: a reflink needs both on one btrfs or xfs; give a --to on the backing file's filesystem, or leave out --kind reflink."),
            _ when Reflink.IsUnsupported(errno) => new ServiceException(ExitCodes.Unavailable, $"{NoReflink} (FICLONE: {errno.Describe()})."),
            _ => ErrnoException.FromErrno(errno, "ioctl(FICLONE)", path),
        };
    }

    /// <summary>
    /// A copy-on-write store may grow to the whole device (every chunk overwritten): refuse one
    /// whose filesystem has less room than that, rather than let it fail under a guest's writes.
    /// </summary>
    private void ThrowIfStoreWontFit(string path, long deviceBytes)
    {
        string dir = Path.GetDirectoryName(path) ?? "/";
        long free;
        try
        {
            free = new DriveInfo(dir).AvailableFreeSpace;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException)
        {
            throw new ServiceException(ExitCodes.NoInput, $"cannot see the free space of {dir}: {e.Message}", e);
        }

        long needed = deviceBytes + ((deviceBytes / Queues.Snapshots.CopyOnWrite.DefaultChunkSize) + 1) * CowStore.RecordHeaderSize + CowStore.HeaderSize;
        if (free < needed)
        {
            throw new ServiceException(ExitCodes.Unavailable, $"a copy-on-write snapshot store at {path} may grow to {needed} bytes (the whole device, {deviceBytes} bytes, overwritten), and {dir} has {free} bytes free; give a --to on a filesystem with room (or one with reflinks, with the backing file), or free space.");
        }
    }
}
