using LoopOrder.Interop;

namespace LoopOrder.Queues.Snapshots;

/// <summary>
/// The backing file, opened read-only a second time for the copy-on-write gate: buffered reads,
/// which see the backend's buffered writes through the page cache, and its O_DIRECT ones too (a
/// direct write invalidates the cached pages it covers).
/// </summary>
public sealed class FileCowSource : ICowSource
{
    private readonly SafeFileDescriptor _fd;

    private FileCowSource(SafeFileDescriptor fd) => _fd = fd;

    /// <summary>Opens <paramref name="path"/> read-only.</summary>
    /// <exception cref="ErrnoException">It could not be opened.</exception>
    public static FileCowSource Open(string path) => new(FileDescriptor.Open(path, OpenFlags.ReadOnly));

    /// <inheritdoc />
    public void Read(long offset, Span<byte> destination)
    {
        int total = 0;
        while (total < destination.Length)
        {
            int n = FileDescriptor.PRead(_fd, destination[total..], offset + total);
            if (n == 0)
            {
                destination[total..].Clear();
                return;
            }

            total += n;
        }
    }

    /// <inheritdoc />
    public void Dispose() => _fd.Dispose();
}
