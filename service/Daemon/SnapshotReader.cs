using LoopOrder.Interop;
using LoopOrder.Queues.Snapshots;

namespace LoopOrder.Service.Daemon;

/// <summary>
/// Reads a snapshot as the image it stands for, while the device serves: a reflink snapshot from
/// its own file, a copy-on-write one chunk by chunk from its store or the live file
/// (<see cref="CopyOnWrite.ReadSnapshot"/>). For export and backup.
/// </summary>
internal sealed class SnapshotReader : IDisposable
{
    private readonly SafeFileDescriptor? _file;
    private readonly CopyOnWrite? _gate;
    private readonly CowStore? _store;
    private readonly byte[]? _chunk;

    private SnapshotReader(long size, SafeFileDescriptor? file, CopyOnWrite? gate, CowStore? store)
    {
        Size = size;
        _file = file;
        _gate = gate;
        _store = store;
        _chunk = gate is null ? null : new byte[gate.ChunkSize];
    }

    /// <summary>The snapshot's size in bytes.</summary>
    public long Size { get; }

    /// <summary>A reader of a reflink snapshot's file.</summary>
    /// <exception cref="ErrnoException">It could not be opened.</exception>
    public static SnapshotReader OfFile(string path)
    {
        SafeFileDescriptor fd = FileDescriptor.Open(path, OpenFlags.ReadOnly);
        return new SnapshotReader(FileDescriptor.GetSize(fd), fd, null, null);
    }

    /// <summary>A reader of a copy-on-write snapshot, live in <paramref name="gate"/>.</summary>
    public static SnapshotReader OfStore(CopyOnWrite gate, CowStore store) => new(store.Header.DeviceBytes, null, gate, store);

    /// <summary>Reads <c>destination.Length</c> bytes at <paramref name="offset"/>; past the end reads zeros.</summary>
    public void Read(long offset, Span<byte> destination)
    {
        if (_file is not null)
        {
            destination.Clear();
            int total = 0;
            while (total < destination.Length && offset + total < Size)
            {
                int n = FileDescriptor.PRead(_file, destination[total..], offset + total);
                if (n == 0)
                {
                    break;
                }

                total += n;
            }

            return;
        }

        int chunkSize = _gate!.ChunkSize;
        int done = 0;
        while (done < destination.Length)
        {
            long at = offset + done;
            long chunk = at / chunkSize;
            int within = (int)(at % chunkSize);
            int length = Math.Min(chunkSize - within, destination.Length - done);
            if (at >= Size)
            {
                destination[done..].Clear();
                return;
            }

            _gate.ReadSnapshot(_store!, chunk, _chunk);
            _chunk.AsSpan(within, length).CopyTo(destination[done..]);
            done += length;
        }
    }

    /// <inheritdoc />
    public void Dispose() => _file?.Dispose();
}
