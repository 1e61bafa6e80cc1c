using System.Runtime.InteropServices;
using LoopOrder.Interop.Native;

namespace LoopOrder.Interop;

/// <summary>
/// Plain synchronous file calls on a <see cref="SafeFileDescriptor"/>: open, lock, stat, size,
/// preallocate, positional read and write, data sync. Every failure is an
/// <see cref="ErrnoException"/> naming the call and the path.
/// </summary>
/// <remarks>
/// These are for setup and for the slow paths; the per-request I/O goes through
/// <see cref="Uring.IoUring"/>. EINTR is retried everywhere, since a signal is never a reason to
/// fail a disk operation.
/// </remarks>
public static unsafe class FileDescriptor
{
    /// <summary>rw-r--r--, the mode new backing files get unless told otherwise.</summary>
    public const int DefaultMode = 0x1A4; // 0644

    /// <summary>Opens <paramref name="path"/> with O_CLOEXEC added to <paramref name="flags"/>.</summary>
    /// <param name="path">The file or device.</param>
    /// <param name="flags">Access mode and options.</param>
    /// <param name="mode">Permissions for a file <see cref="OpenFlags.Create"/> makes.</param>
    /// <exception cref="ErrnoException">open failed (ENOENT, EACCES, EINVAL for O_DIRECT on tmpfs, ...).</exception>
    public static SafeFileDescriptor Open(string path, OpenFlags flags, int mode = DefaultMode)
    {
        ArgumentNullException.ThrowIfNull(path);
        while (true)
        {
            int fd = Libc.open(path, (int)flags | Libc.O_CLOEXEC, mode);
            if (fd >= 0)
            {
                return new SafeFileDescriptor(fd, ownsHandle: true, path);
            }

            Errno errno = ErrnoExtensions.LastPInvokeError();
            if (errno != Errno.EINTR)
            {
                ErrnoException.Throw(errno, "open", path);
            }
        }
    }

    /// <summary>
    /// Takes an exclusive flock without waiting, so two servers never share one backing file.
    /// The lock lasts as long as the descriptor (and any duplicates) stay open.
    /// </summary>
    /// <param name="fd">The open file.</param>
    /// <exception cref="ErrnoException">
    /// With <see cref="ErrnoException.Errno"/> = <see cref="Errno.EWOULDBLOCK"/> when another open file
    /// description holds a lock: the message says the file is in use.
    /// </exception>
    public static void LockExclusive(SafeFileDescriptor fd)
    {
        ArgumentNullException.ThrowIfNull(fd);
        while (Libc.flock(fd.RawFd, Libc.LOCK_EX | Libc.LOCK_NB) != 0)
        {
            Errno errno = ErrnoExtensions.LastPInvokeError();
            if (errno == Errno.EWOULDBLOCK)
            {
                ErrnoException.Throw(errno, "flock", fd.Path, "the file is in use (another process holds its lock)");
            }

            if (errno != Errno.EINTR)
            {
                ErrnoException.Throw(errno, "flock", fd.Path);
            }
        }
    }

    /// <summary>Releases a lock taken with <see cref="LockExclusive"/>.</summary>
    /// <param name="fd">The open file.</param>
    public static void Unlock(SafeFileDescriptor fd)
    {
        ArgumentNullException.ThrowIfNull(fd);
        while (Libc.flock(fd.RawFd, Libc.LOCK_UN) != 0)
        {
            Errno errno = ErrnoExtensions.LastPInvokeError();
            if (errno != Errno.EINTR)
            {
                ErrnoException.Throw(errno, "flock", fd.Path);
            }
        }
    }

    /// <summary>fstat(2).</summary>
    /// <param name="fd">The open file.</param>
    public static stat64 Stat(SafeFileDescriptor fd)
    {
        ArgumentNullException.ThrowIfNull(fd);
        if (RuntimeInformation.ProcessArchitecture != Architecture.X64)
        {
            // The struct layout and the syscall number are both x86-64's.
            throw new PlatformNotSupportedException("fstat is bound for x86-64 only.");
        }

        stat64 result;
        if (Libc.fstat(fd.RawFd, &result) != 0)
        {
            Errno errno = ErrnoExtensions.LastPInvokeError();
            ErrnoException.Throw(errno, "fstat", fd.Path);
        }

        return result;
    }

    /// <summary>
    /// The size in bytes: st_size for a regular file, BLKGETSIZE64 for a block device.
    /// </summary>
    /// <param name="fd">The open file or block device.</param>
    /// <exception cref="ErrnoException">EINVAL when it is neither.</exception>
    public static long GetSize(SafeFileDescriptor fd)
    {
        stat64 st = Stat(fd);
        if (st.IsRegularFile)
        {
            return st.st_size;
        }

        if (st.IsBlockDevice)
        {
            ulong size;
            if (Libc.ioctl(fd.RawFd, Libc.BLKGETSIZE64, &size) != 0)
            {
                Errno errno = ErrnoExtensions.LastPInvokeError();
                ErrnoException.Throw(errno, "ioctl(BLKGETSIZE64)", fd.Path);
            }

            return checked((long)size);
        }

        throw ErrnoException.FromErrno(Errno.EINVAL, "fstat", fd.Path, "not a regular file or block device");
    }

    /// <summary>ftruncate(2): sets the file's size, growing it sparse or cutting it.</summary>
    /// <param name="fd">The open file.</param>
    /// <param name="length">The new size in bytes.</param>
    public static void Truncate(SafeFileDescriptor fd, long length)
    {
        ArgumentNullException.ThrowIfNull(fd);
        while (Libc.ftruncate(fd.RawFd, length) != 0)
        {
            Errno errno = ErrnoExtensions.LastPInvokeError();
            if (errno != Errno.EINTR)
            {
                ErrnoException.Throw(errno, "ftruncate", fd.Path);
            }
        }
    }

    /// <summary>fallocate(2), e.g. <see cref="Uring.FallocFlags.PunchHole"/> | <see cref="Uring.FallocFlags.KeepSize"/>.</summary>
    /// <param name="fd">The open file.</param>
    /// <param name="mode">FALLOC_FL_* bits (<see cref="Uring.FallocFlags"/>); 0 preallocates.</param>
    /// <param name="offset">Start, in bytes.</param>
    /// <param name="length">Length, in bytes.</param>
    /// <exception cref="ErrnoException">EOPNOTSUPP when the filesystem lacks that mode.</exception>
    public static void Allocate(SafeFileDescriptor fd, int mode, long offset, long length)
    {
        ArgumentNullException.ThrowIfNull(fd);
        while (Libc.fallocate(fd.RawFd, mode, offset, length) != 0)
        {
            Errno errno = ErrnoExtensions.LastPInvokeError();
            if (errno != Errno.EINTR)
            {
                ErrnoException.Throw(errno, "fallocate", fd.Path);
            }
        }
    }

    /// <summary>pread(2) once: returns the bytes read, which may be fewer than asked (0 at end of file).</summary>
    /// <param name="fd">The open file.</param>
    /// <param name="buffer">Where to read to.</param>
    /// <param name="offset">File offset in bytes.</param>
    public static int PRead(SafeFileDescriptor fd, Span<byte> buffer, long offset)
    {
        ArgumentNullException.ThrowIfNull(fd);
        fixed (byte* p = buffer)
        {
            while (true)
            {
                nint n = Libc.pread(fd.RawFd, p, (nuint)buffer.Length, offset);
                if (n >= 0)
                {
                    return (int)n;
                }

                Errno errno = ErrnoExtensions.LastPInvokeError();
                if (errno != Errno.EINTR)
                {
                    ErrnoException.Throw(errno, "pread", fd.Path);
                }
            }
        }
    }

    /// <summary>pwrite(2) once: returns the bytes written, which may be fewer than asked.</summary>
    /// <param name="fd">The open file.</param>
    /// <param name="buffer">What to write.</param>
    /// <param name="offset">File offset in bytes.</param>
    public static int PWrite(SafeFileDescriptor fd, ReadOnlySpan<byte> buffer, long offset)
    {
        ArgumentNullException.ThrowIfNull(fd);
        fixed (byte* p = buffer)
        {
            while (true)
            {
                nint n = Libc.pwrite(fd.RawFd, p, (nuint)buffer.Length, offset);
                if (n >= 0)
                {
                    return (int)n;
                }

                Errno errno = ErrnoExtensions.LastPInvokeError();
                if (errno != Errno.EINTR)
                {
                    ErrnoException.Throw(errno, "pwrite", fd.Path);
                }
            }
        }
    }

    /// <summary>Reads until <paramref name="buffer"/> is full; EIO if the file ends first.</summary>
    /// <param name="fd">The open file.</param>
    /// <param name="buffer">Where to read to.</param>
    /// <param name="offset">File offset in bytes.</param>
    public static void PReadExactly(SafeFileDescriptor fd, Span<byte> buffer, long offset)
    {
        while (!buffer.IsEmpty)
        {
            int n = PRead(fd, buffer, offset);
            if (n == 0)
            {
                ErrnoException.Throw(Errno.EIO, "pread", fd.Path, "unexpected end of file");
            }

            buffer = buffer[n..];
            offset += n;
        }
    }

    /// <summary>Writes all of <paramref name="buffer"/>, continuing after short writes.</summary>
    /// <param name="fd">The open file.</param>
    /// <param name="buffer">What to write.</param>
    /// <param name="offset">File offset in bytes.</param>
    public static void PWriteAll(SafeFileDescriptor fd, ReadOnlySpan<byte> buffer, long offset)
    {
        while (!buffer.IsEmpty)
        {
            int n = PWrite(fd, buffer, offset);
            buffer = buffer[n..];
            offset += n;
        }
    }

    /// <summary>
    /// fdatasync(2). A failure means written data may be lost; the caller must latch it (a later
    /// call can "succeed" because Linux reports a writeback error only once).
    /// </summary>
    /// <param name="fd">The open file.</param>
    public static void DataSync(SafeFileDescriptor fd)
    {
        ArgumentNullException.ThrowIfNull(fd);
        while (Libc.fdatasync(fd.RawFd) != 0)
        {
            Errno errno = ErrnoExtensions.LastPInvokeError();
            if (errno != Errno.EINTR)
            {
                ErrnoException.Throw(errno, "fdatasync", fd.Path);
            }
        }
    }

    /// <summary>
    /// statx on an open descriptor, without throwing: for paths that must not allocate or that
    /// turn a failure into a request's error. Returns <see cref="Errno.None"/>, or the errno.
    /// </summary>
    /// <param name="fd">The open file.</param>
    /// <param name="mask">STATX_* fields wanted (<see cref="StatxBuffer"/>).</param>
    /// <param name="result">What the kernel filled; check <see cref="StatxBuffer.Mask"/>.</param>
    public static Errno TryStatx(SafeFileDescriptor fd, uint mask, out StatxBuffer result)
    {
        ArgumentNullException.ThrowIfNull(fd);

        // An empty C string with AT_EMPTY_PATH names the descriptor itself: no marshalling, no allocation.
        byte empty = 0;
        StatxBuffer buffer;
        int rc = Libc.statx(fd.RawFd, &empty, Libc.AT_EMPTY_PATH, mask, &buffer);
        Errno errno = rc == 0 ? Errno.None : ErrnoExtensions.LastPInvokeError();
        result = buffer;
        return errno;
    }

    /// <summary>One pwrite(2) that reports failure as a result instead of an exception, for I/O paths: bytes written, or -errno.</summary>
    /// <param name="fd">The raw descriptor (kept alive by its owner for the call).</param>
    /// <param name="buffer">Source bytes.</param>
    /// <param name="count">Bytes to write.</param>
    /// <param name="offset">File offset.</param>
    public static long TryPWrite(int fd, void* buffer, nuint count, long offset)
    {
        nint n = Libc.pwrite(fd, buffer, count, offset);
        return n >= 0 ? n : ErrnoExtensions.LastPInvokeError().ToResult();
    }

    /// <summary>Clears O_NONBLOCK, set only so that opening a FIFO by mistake could not block.</summary>
    /// <param name="fd">The open file.</param>
    /// <exception cref="ErrnoException">fcntl failed.</exception>
    public static void ClearNonBlocking(SafeFileDescriptor fd)
    {
        ArgumentNullException.ThrowIfNull(fd);
        int flags = Libc.fcntl(fd.RawFd, Libc.F_GETFL, 0);
        if (flags < 0 || Libc.fcntl(fd.RawFd, Libc.F_SETFL, flags & ~Libc.O_NONBLOCK) < 0)
        {
            ErrnoException.Throw(ErrnoExtensions.LastPInvokeError(), "fcntl(F_SETFL)", fd.Path);
        }
    }

    /// <summary>Removes a path, ignoring failure: undoing a creation on an error path, where the first error is the one to report.</summary>
    /// <param name="path">The file to remove.</param>
    /// <returns><see cref="Errno.None"/> when it was removed, else why not.</returns>
    public static Errno TryUnlink(string path) => Libc.unlink(path) == 0 ? Errno.None : ErrnoExtensions.LastPInvokeError();
}
