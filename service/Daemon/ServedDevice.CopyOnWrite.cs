using System.Diagnostics;
using LoopOrder.Interop;
using LoopOrder.Queues.Snapshots;
using LoopOrder.Queues.Targets;
using LoopOrder.Queues.Targets.File;
using LoopOrder.Service.Configuration;
using LoopOrder.Service.Control;
using Microsoft.Extensions.Logging;

namespace LoopOrder.Service.Daemon;

/// <summary>Copy-on-write snapshots (backing filesystems without reflink): the gate, its stores and their index, and export.</summary>
public sealed partial class ServedDevice
{
    /// <summary>
    /// The copy-on-write gate of a file device, with every store its index lists adopted (so a
    /// device added again after a reboot, or recovered after a SIGKILL, goes on keeping its
    /// snapshots before it serves a single write); null for other targets. A store that is gone or
    /// damaged is logged, dropped from the index, and not kept.
    /// </summary>
    private static CopyOnWrite? OpenCopyOnWrite(DeviceOptions options, ITarget target, long deviceBytes, ILogger logger)
    {
        if (target.Name != FileTarget.TargetName || options.File is not { } file)
        {
            return null;
        }

        var gate = new CopyOnWrite(FileCowSource.Open(file), deviceBytes);
        try
        {
            List<string> listed = CowIndex.Read(file);
            var kept = new List<string>(listed.Count);
            foreach (string path in listed)
            {
                try
                {
                    CowStore store = CowStore.Open(path);
                    if (store.Header.Invalid)
                    {
                        // An invalid store is kept listed (so list shows it and delete removes it) but preserves nothing.
                        store.Dispose();
                        kept.Add(path);
                        continue;
                    }

                    gate.Adopt(store);
                    kept.Add(path);
                }
                catch (Exception e) when (e is IOException or InvalidDataException or ArgumentException)
                {
                    Log.CowStoreLost(logger, path, CowIndex.PathOf(file), e.Message);
                }
            }

            if (kept.Count != listed.Count)
            {
                CowIndex.Write(file, kept);
            }

            gate.StoreFailed = (store, e) => Log.CowStoreFailed(logger, store.Header.Name, store.Path, e.Message);
            return gate;
        }
        catch
        {
            gate.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Records for the copy-on-write snapshots the index lists that <paramref name="known"/> does
    /// not name (a device added again after a reboot: the records in /run are gone, the stores not).
    /// </summary>
    internal List<SnapshotRecord> UnrecordedStores(IReadOnlyCollection<SnapshotRecord> known)
    {
        var found = new List<SnapshotRecord>();
        if (Options.File is not { } file)
        {
            return found;
        }

        foreach (string path in CowIndex.Read(file))
        {
            if (known.Any(s => s.Path == path))
            {
                continue;
            }

            CowStoreHeader header;
            long bytes;
            if (Engine.CopyOnWrite?.Stores.FirstOrDefault(s => s.Path == path) is { } live)
            {
                header = live.Header;
                bytes = live.Bytes;
                Log.CowStoreAdopted(_logger, Id, header.Name, path, live.PreservedChunks);
            }
            else
            {
                try
                {
                    using CowStore store = CowStore.Open(path, writable: false);
                    (header, bytes) = (store.Header, store.Bytes);
                }
                catch (Exception e) when (e is IOException or InvalidDataException)
                {
                    continue;
                }
            }

            found.Add(new SnapshotRecord
            {
                Name = header.Name,
                Path = path,
                Kind = CowKind,
                Bytes = header.DeviceBytes,
                Created = header.Created,
                StoreBytes = bytes,
                Invalid = header.Invalid ? true : null,
            });
        }

        return found;
    }

    /// <summary><paramref name="snapshot"/> with its store's current size and state, for list.</summary>
    internal SnapshotRecord Refreshed(SnapshotRecord snapshot)
    {
        if (snapshot.Kind != CowKind)
        {
            return snapshot;
        }

        CowStore? live = LiveStore(snapshot);
        snapshot.StoreBytes = live?.Bytes ?? snapshot.StoreBytes;
        snapshot.Invalid = live is null ? true : null;
        return snapshot;
    }

    /// <summary>
    /// Removes <paramref name="snapshot"/>'s file: for a copy-on-write one, the gate stops
    /// keeping it, the index drops it (durably, before the store goes), then the store is removed.
    /// </summary>
    /// <exception cref="ServiceException">The index or the file could not be updated (71); the snapshot stays.</exception>
    internal void RemoveSnapshotFiles(SnapshotRecord snapshot)
    {
        if (snapshot.Kind == CowKind && Options.File is { } file && Engine.CopyOnWrite is { } gate)
        {
            CowStore? live = LiveStore(snapshot);
            try
            {
                CowIndex.Write(file, CowIndex.Read(file).Where(p => p != snapshot.Path));
            }
            catch (IOException e)
            {
                throw new ServiceException(ExitCodes.OsError, $"cannot update {CowIndex.PathOf(file)}: {e.Message}; snapshot {snapshot.Name} is kept.", e);
            }

            if (live is not null)
            {
                gate.Remove(live);
                live.Dispose();
            }
        }

        Errno errno = FileDescriptor.TryUnlink(snapshot.Path);
        if (errno is not (Errno.None or Errno.ENOENT))
        {
            throw new ServiceException(ExitCodes.OsError, $"cannot delete {snapshot.Path}: {errno.Describe()}; snapshot {snapshot.Name} is no longer kept up to date.");
        }
    }

    /// <summary>
    /// Writes snapshot <paramref name="name"/> as a raw image at <paramref name="to"/> (which must
    /// not exist): a reflink of a reflink snapshot where it can, else a copy; for a copy-on-write
    /// one, each chunk from its store or, when the store does not hold it, from the live file.
    /// All-zero chunks stay holes. The image is fdatasynced before this returns; on any failure
    /// nothing is left at <paramref name="to"/>.
    /// </summary>
    public SnapshotExport Export(string name, string to)
    {
        ArgumentNullException.ThrowIfNull(name);
        ArgumentNullException.ThrowIfNull(to);
        SnapshotRecord snapshot = SnapshotNamed(name);
        string path = Path.GetFullPath(to);
        CowStore? store = null;
        if (snapshot.Kind == CowKind && (store = LiveStore(snapshot)) is null)
        {
            throw new ServiceException(ExitCodes.IoError, $"snapshot {name} of device {Id} is invalid (its store failed to keep a chunk, or is gone): it cannot be exported; delete it.");
        }

        SafeFileDescriptor destination = CreateExclusive(path, "an exported image");
        long start = Stopwatch.GetTimestamp();
        string method;
        long dataBytes;
        try
        {
            using (destination)
            {
                Errno cloned = Errno.EOPNOTSUPP;
                if (store is null)
                {
                    using SafeFileDescriptor source = FileDescriptor.Open(snapshot.Path, OpenFlags.ReadOnly);
                    cloned = Reflink.TryClone(destination, source);
                }

                if (cloned == Errno.None)
                {
                    (method, dataBytes) = ("reflink", snapshot.Bytes);
                }
                else
                {
                    using SnapshotReader reader = OpenReader(snapshot);
                    byte[] buffer = new byte[Queues.Snapshots.CopyOnWrite.DefaultChunkSize];
                    dataBytes = CopySparse(destination, reader, buffer);
                    method = store is null ? "copy" : "cow";
                }

                FileDescriptor.DataSync(destination);
            }
        }
        catch (Exception e)
        {
            FileDescriptor.TryUnlink(path);
            throw e as ServiceException ?? ServiceErrors.From(e);
        }

        var export = new SnapshotExport
        {
            Name = name,
            Path = path,
            Bytes = snapshot.Bytes,
            DataBytes = dataBytes,
            Method = method,
            Ms = Stopwatch.GetElapsedTime(start).TotalMilliseconds,
        };
        Log.SnapshotExported(_logger, Id, name, path, export.Bytes, export.DataBytes, method, export.Ms);
        return export;
    }

    /// <summary>The live store of a copy-on-write snapshot, or null (invalid, dropped, or not copy-on-write).</summary>
    private CowStore? LiveStore(SnapshotRecord snapshot) =>
        Engine.CopyOnWrite?.Stores.FirstOrDefault(s => s.Path == snapshot.Path);

    /// <summary>A reader of <paramref name="snapshot"/> as an image (see <see cref="SnapshotReader"/>).</summary>
    /// <exception cref="ServiceException">A copy-on-write snapshot whose store failed (74).</exception>
    private SnapshotReader OpenReader(SnapshotRecord snapshot)
    {
        if (snapshot.Kind != CowKind)
        {
            return SnapshotReader.OfFile(snapshot.Path);
        }

        return LiveStore(snapshot) is { } store
            ? SnapshotReader.OfStore(Engine.CopyOnWrite!, store)
            : throw new ServiceException(ExitCodes.IoError, $"snapshot {snapshot.Name} of device {Id} is invalid (its store failed to keep a chunk, or is gone); delete it.");
    }

    /// <summary>
    /// Copies <paramref name="reader"/>'s image into <paramref name="destination"/> a buffer at a
    /// time, skipping all-zero pieces (holes, the image's size set at the end); returns the bytes written.
    /// </summary>
    private static long CopySparse(SafeFileDescriptor destination, SnapshotReader reader, byte[] buffer)
    {
        long written = 0;
        for (long offset = 0; offset < reader.Size; offset += buffer.Length)
        {
            int length = (int)Math.Min(buffer.Length, reader.Size - offset);
            Span<byte> piece = buffer.AsSpan(0, length);
            reader.Read(offset, piece);
            if (piece.IndexOfAnyExcept((byte)0) >= 0)
            {
                FileDescriptor.PWriteAll(destination, piece, offset);
                written += length;
            }
        }

        FileDescriptor.Truncate(destination, reader.Size);
        return written;
    }

    /// <summary>Creates <paramref name="path"/> with O_EXCL (never over a file that exists), 0600; a refusal is a <see cref="ServiceException"/>.</summary>
    /// <param name="path">The new file.</param>
    /// <param name="what">What it is, with its article ("a snapshot"), for the messages.</param>
    private static SafeFileDescriptor CreateExclusive(string path, string what)
    {
        if (File.Exists(path) || Directory.Exists(path))
        {
            throw new ServiceException(ExitCodes.Usage, $"{path} exists; {what} never overwrites a file: give another --to, or remove it.");
        }

        try
        {
            // O_EXCL: a file that appears between the check and here is not overwritten either.
            return FileDescriptor.Open(path, OpenFlags.ReadWrite | OpenFlags.Create | OpenFlags.Exclusive, mode: 0x180); // 0600: a disk image's data
        }
        catch (ErrnoException e)
        {
            throw new ServiceException(e.Errno == Errno.EEXIST ? ExitCodes.Usage : ExitCodes.NoInput, $"cannot create {what} at {path}: {e.Message}", e);
        }
    }
}
