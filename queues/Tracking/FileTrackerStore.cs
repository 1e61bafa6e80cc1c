using LoopOrder.Interop;
using LoopOrder.Interop.Uring;

namespace LoopOrder.Queues.Tracking;

/// <summary>The metadata file of a <see cref="ChangeTracker"/>: pwrite and fdatasync (their <see cref="ErrnoException"/> is an <see cref="IOException"/>).</summary>
public sealed class FileTrackerStore : ITrackerStore
{
    private readonly SafeFileDescriptor _fd;

    private FileTrackerStore(SafeFileDescriptor fd) => _fd = fd;

    /// <summary>
    /// Opens <paramref name="path"/>, creating it if missing. A file it creates is made durable
    /// in its directory (fsync of the directory) before this returns: were the entry lost in a
    /// crash, the tracker would start over with no bits while writes it had let through landed.
    /// </summary>
    /// <exception cref="ErrnoException">The file or its directory could not be opened or synced.</exception>
    public static FileTrackerStore Open(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        bool existed = File.Exists(path);
        SafeFileDescriptor fd = FileDescriptor.Open(path, OpenFlags.ReadWrite | OpenFlags.Create);
        try
        {
            if (!existed)
            {
                FileDescriptor.DataSync(fd);
                string dir = Path.GetDirectoryName(Path.GetFullPath(path)) ?? "/";
                using SafeFileDescriptor dirFd = FileDescriptor.Open(dir, OpenFlags.ReadOnly);
                FileDescriptor.DataSync(dirFd);
            }

            return new FileTrackerStore(fd);
        }
        catch
        {
            fd.Dispose();
            throw;
        }
    }

    /// <inheritdoc />
    public int Read(long offset, Span<byte> buffer)
    {
        int total = 0;
        while (total < buffer.Length)
        {
            int n = FileDescriptor.PRead(_fd, buffer[total..], offset + total);
            if (n == 0)
            {
                break;
            }

            total += n;
        }

        return total;
    }

    /// <inheritdoc />
    public void Write(long offset, ReadOnlySpan<byte> data) => FileDescriptor.PWriteAll(_fd, data, offset);

    /// <inheritdoc />
    public void Discard(long offset, long length)
    {
        try
        {
            FileDescriptor.Allocate(_fd, FallocFlags.PunchHole | FallocFlags.KeepSize, offset, length);
        }
        catch (ErrnoException e) when (e.Errno == Errno.EOPNOTSUPP)
        {
            FileDescriptor.PWriteAll(_fd, new byte[length], offset);
        }
    }

    /// <inheritdoc />
    public void Sync() => FileDescriptor.DataSync(_fd);

    /// <inheritdoc />
    public void Dispose() => _fd.Dispose();
}
