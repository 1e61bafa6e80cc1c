using LoopOrder.Interop.Native;

namespace LoopOrder.Interop;

/// <summary>
/// Reflinks (FICLONE): a whole file shared copy-on-write with another on the same filesystem, in
/// one call that copies no data. btrfs and xfs (with reflink=1, mkfs.xfs's default) have them;
/// ext4, tmpfs and most others do not.
/// </summary>
public static class Reflink
{
    /// <summary>
    /// Makes <paramref name="destination"/> (an empty regular file, open for writing) share every
    /// extent of <paramref name="source"/> (open for reading): ioctl(destination, FICLONE, source).
    /// Returns <see cref="Errno.None"/>, or the errno: see <see cref="IsUnsupported"/> for the
    /// ones that mean "no reflink here".
    /// </summary>
    /// <param name="destination">The new file.</param>
    /// <param name="source">The file to clone.</param>
    public static Errno TryClone(SafeFileDescriptor destination, SafeFileDescriptor source)
    {
        ArgumentNullException.ThrowIfNull(destination);
        ArgumentNullException.ThrowIfNull(source);
        Errno errno;
        do
        {
            errno = Libc.ioctl_int(destination.RawFd, Libc.FICLONE, source.RawFd) == 0 ? Errno.None : ErrnoExtensions.LastPInvokeError();
        }
        while (errno == Errno.EINTR);

        return errno;
    }

    /// <summary>
    /// True for the errnos FICLONE gives where reflinks cannot be made at all: EOPNOTSUPP (the
    /// filesystem has none: ext4, tmpfs), EXDEV (the two files are on different filesystems),
    /// EINVAL (a filesystem without the operation, or xfs made without reflink), ENOTTY (no ioctl
    /// handler). Others (ENOSPC, EIO, EPERM...) are real failures of a filesystem that has them.
    /// </summary>
    /// <param name="errno">What <see cref="TryClone"/> returned.</param>
    public static bool IsUnsupported(Errno errno) => errno is Errno.EOPNOTSUPP or Errno.EXDEV or Errno.EINVAL or Errno.ENOTTY;
}
