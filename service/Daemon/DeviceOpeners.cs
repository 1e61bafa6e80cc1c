using System.Globalization;
using LoopOrder.Interop;

namespace LoopOrder.Service.Daemon;

/// <summary>
/// Who has a block device open, found from user space: what <c>del</c> checks before stopping a
/// device on a kernel without UBLK_F_SAFE_STOP_DEV (before 7.0), where TRY_STOP_DEV would do it
/// in the kernel, atomically.
/// </summary>
/// <remarks>
/// <para>
/// What each source sees, and misses (checked in the order below; the first that finds an opener
/// answers):
/// </para>
/// <list type="number">
/// <item><b>/proc/self/mountinfo</b>, by major:minor of the disk and each partition: a mount in the
/// daemon's own mount namespace. Misses mounts in other namespaces (containers); those still hold
/// the disk, which (3) sees.</item>
/// <item><b>/sys/block/ublkbN/holders</b> (and each partition's): dm, md, bcache and other stacked
/// drivers that claimed it. Reliable for those, blind to everything else.</item>
/// <item><b>An O_EXCL open</b> of the disk: EBUSY when anything claimed the disk or one of its
/// partitions exclusively (a mounted filesystem in any namespace, a swap area, dm/md, mkfs, any
/// O_EXCL opener). The most reliable single test; blind to plain opens (a dd, a VM using the disk
/// without O_EXCL).</item>
/// <item><b>/proc/*/fd</b>: a process holding the disk or a partition open plainly. Sees every
/// process of this PID namespace the daemon may read (it runs as root); misses other PID
/// namespaces and in-kernel openers without an fd (loop devices over it show as holders).</item>
/// </list>
/// <para>
/// Together they find what a user would call "in use", but not atomically: an open that happens
/// between the check and STOP_DEV is not seen (TRY_STOP_DEV closes that window on 7.0+, by
/// refusing new opens while it decides).
/// </para>
/// </remarks>
public static class DeviceOpeners
{
    /// <summary>Why <paramref name="blockDevicePath"/> counts as in use ("mounted on /mnt", "open by pid 42 (dd)"), or null when nothing holds it.</summary>
    /// <param name="blockDevicePath">/dev/ublkbN.</param>
    public static string? Describe(string blockDevicePath)
    {
        ArgumentNullException.ThrowIfNull(blockDevicePath);
        string name = Path.GetFileName(blockDevicePath);
        string sys = Path.Combine("/sys/block", name);
        if (!File.Exists(blockDevicePath) || !Directory.Exists(sys))
        {
            return null;
        }

        // The disk and its partitions (ublkbNpM), by sysfs directory.
        var parts = new List<string> { sys };
        parts.AddRange(Directory.EnumerateDirectories(sys, name + "p*"));
        var numbers = new HashSet<string>(StringComparer.Ordinal);
        foreach (string p in parts)
        {
            if (TryRead(Path.Combine(p, "dev")) is { } dev)
            {
                numbers.Add(dev);
            }
        }

        return Mounted(numbers) ?? Held(parts) ?? Claimed(blockDevicePath) ?? OpenBy(blockDevicePath, parts.Select(p => "/dev/" + Path.GetFileName(p)).ToHashSet(StringComparer.Ordinal));
    }

    private static string? Mounted(HashSet<string> numbers)
    {
        foreach (string line in ReadLines("/proc/self/mountinfo"))
        {
            // id parent major:minor root mountpoint ...
            string[] f = line.Split(' ');
            if (f.Length > 4 && numbers.Contains(f[2]))
            {
                return $"mounted on {f[4].Replace("\\040", " ", StringComparison.Ordinal)}";
            }
        }

        return null;
    }

    private static string? Held(List<string> parts)
    {
        foreach (string p in parts)
        {
            string holders = Path.Combine(p, "holders");
            if (Directory.Exists(holders) && Directory.EnumerateFileSystemEntries(holders).Select(Path.GetFileName).FirstOrDefault() is { } h)
            {
                return $"held by {h}";
            }
        }

        return null;
    }

    private static string? Claimed(string path)
    {
        try
        {
            // For a block device, O_EXCL without O_CREAT means "claim it": EBUSY if claimed.
            using SafeFileDescriptor fd = FileDescriptor.Open(path, OpenFlags.ReadOnly | OpenFlags.Exclusive);
            return null;
        }
        catch (ErrnoException e) when (e.Errno == Errno.EBUSY)
        {
            return "claimed exclusively (a mounted filesystem, swap, dm/md, or another O_EXCL opener)";
        }
        catch (ErrnoException)
        {
            // Gone, or not ours to open: the other checks decide.
            return null;
        }
    }

    private static string? OpenBy(string path, HashSet<string> paths)
    {
        paths.Add(path);
        IEnumerable<string> processes;
        try
        {
            processes = Directory.EnumerateDirectories("/proc").ToList();
        }
        catch (IOException)
        {
            return null;
        }

        foreach (string proc in processes)
        {
            if (!int.TryParse(Path.GetFileName(proc), NumberStyles.None, CultureInfo.InvariantCulture, out int pid) || pid == Environment.ProcessId)
            {
                continue;
            }

            try
            {
                foreach (string fd in Directory.EnumerateFileSystemEntries(Path.Combine(proc, "fd")))
                {
                    if (new FileInfo(fd).LinkTarget is { } target && paths.Contains(target))
                    {
                        string comm = TryRead(Path.Combine(proc, "comm")) ?? "?";
                        return string.Create(CultureInfo.InvariantCulture, $"open by pid {pid} ({comm})");
                    }
                }
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                // The process exited, or is not ours to look at.
            }
        }

        return null;
    }

    private static string? TryRead(string path)
    {
        try
        {
            return File.ReadAllText(path).Trim();
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    private static IEnumerable<string> ReadLines(string path)
    {
        try
        {
            return File.ReadAllLines(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return [];
        }
    }
}
