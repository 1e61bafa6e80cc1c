using System.Text;
using LoopOrder.Interop;

namespace LoopOrder.Queues.Snapshots;

/// <summary>
/// <c>FILE.cow</c>, next to a backing file: the copy-on-write stores that must be kept whenever
/// the file is served. The device records live in /run and die with a reboot; this index does not,
/// so a device added again after a power cut still preserves every chunk its snapshots need.
/// </summary>
/// <remarks>
/// One absolute path a line. Replaced whole (a new file, fdatasynced, renamed over the old, the
/// directory synced), so a crash leaves the old list or the new, never half of one. An empty list
/// removes the file.
/// </remarks>
public static class CowIndex
{
    /// <summary>The index of <paramref name="backingFile"/>.</summary>
    public static string PathOf(string backingFile) => backingFile + ".cow";

    /// <summary>The stores listed for <paramref name="backingFile"/>; none when there is no index.</summary>
    /// <exception cref="IOException">The index exists but cannot be read.</exception>
    public static List<string> Read(string backingFile)
    {
        string index = PathOf(backingFile);
        if (!System.IO.File.Exists(index))
        {
            return [];
        }

        return [.. System.IO.File.ReadAllLines(index).Where(l => l.Length > 0 && l[0] == '/')];
    }

    /// <summary>Makes <paramref name="stores"/> the list of <paramref name="backingFile"/>, durably.</summary>
    /// <exception cref="IOException">Writing, syncing or renaming failed (an <see cref="ErrnoException"/> or the rename's); the old list stands.</exception>
    public static void Write(string backingFile, IEnumerable<string> stores)
    {
        ArgumentNullException.ThrowIfNull(stores);
        string index = PathOf(backingFile);
        string dir = Path.GetDirectoryName(Path.GetFullPath(index)) ?? "/";
        var lines = new StringBuilder("# LoopOrder copy-on-write snapshot stores of this file: keep them with it\n");
        int count = 0;
        foreach (string store in stores)
        {
            lines.Append(store).Append('\n');
            count++;
        }

        if (count == 0)
        {
            Errno gone = FileDescriptor.TryUnlink(index);
            if (gone is not (Errno.None or Errno.ENOENT))
            {
                throw ErrnoException.FromErrno(gone, "unlink", index);
            }
        }
        else
        {
            string temporary = index + ".new";
            using (SafeFileDescriptor fd = FileDescriptor.Open(temporary, OpenFlags.ReadWrite | OpenFlags.Create | OpenFlags.Truncate, mode: 0x1A4)) // 0644: a list, no data
            {
                FileDescriptor.PWriteAll(fd, Encoding.UTF8.GetBytes(lines.ToString()), 0);
                FileDescriptor.DataSync(fd);
            }

            System.IO.File.Move(temporary, index, overwrite: true); // rename(2): atomic over the old list
        }

        using SafeFileDescriptor dirFd = FileDescriptor.Open(dir, OpenFlags.ReadOnly);
        FileDescriptor.DataSync(dirFd);
    }
}
