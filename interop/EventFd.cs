using System.Runtime.InteropServices;
using LoopOrder.Interop.Native;

namespace LoopOrder.Interop;

/// <summary>
/// An eventfd(2) counter used to wake a thread that sleeps in its io_uring: any thread calls
/// <see cref="Signal"/>; the owner either keeps a ring read armed on <see cref="Fd"/>
/// (<see cref="Uring.UringPrep.ReadEventFd"/>) or polls it and drains with <see cref="TryRead"/>.
/// </summary>
/// <remarks>
/// Create the eventfd with <c>nonBlocking: false</c> when a read stays armed in a ring: io_uring
/// then always parks the read until a signal. For a non-blocking file, 6.12 and 6.18 (both
/// measured) park it too, but io_uring has at times honoured O_NONBLOCK by completing the read
/// at once with -EAGAIN, so do not rely on either. Use the default (non-blocking) when the
/// eventfd is polled (POLL_ADD, epoll) and drained with <see cref="TryRead"/>, which must never
/// block.
/// </remarks>
public sealed unsafe class EventFd : IDisposable
{
    private readonly SafeFileDescriptor _fd;

    /// <summary>Creates an eventfd with EFD_CLOEXEC, and EFD_NONBLOCK unless told otherwise.</summary>
    /// <param name="nonBlocking">Whether reads return EAGAIN instead of blocking when the counter is zero.</param>
    /// <exception cref="ErrnoException">eventfd failed (EMFILE, ENOMEM).</exception>
    public EventFd(bool nonBlocking = true)
    {
        int flags = Libc.EFD_CLOEXEC | (nonBlocking ? Libc.EFD_NONBLOCK : 0);
        int fd = Libc.eventfd(0, flags);
        if (fd < 0)
        {
            Errno errno = ErrnoExtensions.LastPInvokeError();
            ErrnoException.Throw(errno, "eventfd");
        }

        _fd = new SafeFileDescriptor(fd, ownsHandle: true, "eventfd");
        IsNonBlocking = nonBlocking;
    }

    /// <summary>Whether the eventfd was created with EFD_NONBLOCK.</summary>
    public bool IsNonBlocking { get; }

    /// <summary>The owned descriptor.</summary>
    public SafeFileDescriptor Handle => _fd;

    /// <summary>The raw number, for SQEs; valid until this object is disposed.</summary>
    public int Fd => _fd.RawFd;

    /// <summary>
    /// Adds <paramref name="value"/> to the counter, waking a reader. Safe from any thread; never
    /// blocks (a counter already at its maximum is already a pending wake, so that case is dropped).
    /// </summary>
    /// <param name="value">At least 1.</param>
    public void Signal(ulong value = 1)
    {
        ArgumentOutOfRangeException.ThrowIfZero(value);
        while (true)
        {
            nint n = Libc.write(_fd.RawFd, &value, sizeof(ulong));
            if (n == sizeof(ulong))
            {
                return;
            }

            Errno errno = ErrnoExtensions.LastPInvokeError();
            if (errno == Errno.EAGAIN)
            {
                return;
            }

            if (errno != Errno.EINTR)
            {
                ErrnoException.Throw(errno, "write", "eventfd");
            }
        }
    }

    /// <summary>
    /// Reads and resets the counter. Returns false with <paramref name="value"/> 0 when it was zero
    /// (only possible on a non-blocking eventfd; a blocking one waits).
    /// </summary>
    /// <param name="value">The sum of the signals since the last read.</param>
    public bool TryRead(out ulong value)
    {
        ulong counter = 0;
        while (true)
        {
            nint n = Libc.read(_fd.RawFd, &counter, sizeof(ulong));
            if (n == sizeof(ulong))
            {
                value = counter;
                return true;
            }

            Errno errno = ErrnoExtensions.LastPInvokeError();
            if (errno == Errno.EAGAIN)
            {
                value = 0;
                return false;
            }

            if (errno != Errno.EINTR)
            {
                ErrnoException.Throw(errno, "read", "eventfd");
            }
        }
    }

    /// <inheritdoc />
    public void Dispose() => _fd.Dispose();
}
