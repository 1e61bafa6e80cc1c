using System.Runtime.InteropServices;
using LoopOrder.Interop.Native;

namespace LoopOrder.Interop;

/// <summary>
/// One mmap(2) mapping, unmapped with its length when disposed or finalized.
/// </summary>
/// <remarks>
/// Used for the io_uring rings and SQE array, the ublk queue descriptor areas, and anonymous
/// I/O buffers. Code that
/// caches <see cref="Pointer"/> must not touch it after disposing the handle.
/// </remarks>
public sealed unsafe class SafeMmapHandle : SafeHandle
{
    /// <summary>Creates an invalid handle (the marshaller's constructor).</summary>
    public SafeMmapHandle()
        : base(Libc.MAP_FAILED, ownsHandle: true)
    {
    }

    private SafeMmapHandle(void* address, nuint length)
        : base(Libc.MAP_FAILED, ownsHandle: true)
    {
        SetHandle((nint)address);
        Length = length;
    }

    /// <summary>The length passed to mmap, in bytes.</summary>
    public nuint Length { get; }

    /// <summary>The first mapped byte.</summary>
    public byte* Pointer => (byte*)handle;

    /// <inheritdoc />
    public override bool IsInvalid => handle == Libc.MAP_FAILED || handle == 0;

    /// <summary>Maps <paramref name="length"/> bytes of <paramref name="fd"/> at <paramref name="offset"/>.</summary>
    /// <param name="fd">The file or device to map.</param>
    /// <param name="offset">The offset into it (for io_uring, one of the IORING_OFF_* magic values).</param>
    /// <param name="length">The length in bytes.</param>
    /// <param name="writable">PROT_READ|PROT_WRITE when true, PROT_READ alone otherwise (ublk refuses writable descriptor maps).</param>
    /// <param name="populate">Adds MAP_POPULATE, prefaulting the pages so the first ring operations take no page faults.</param>
    /// <param name="what">Names the mapping in an error message.</param>
    /// <exception cref="ErrnoException">mmap failed.</exception>
    public static SafeMmapHandle MapShared(SafeFileDescriptor fd, long offset, nuint length, bool writable, bool populate, string what)
    {
        ArgumentNullException.ThrowIfNull(fd);
        ArgumentOutOfRangeException.ThrowIfZero(length);
        int prot = writable ? Libc.PROT_READ | Libc.PROT_WRITE : Libc.PROT_READ;
        int flags = Libc.MAP_SHARED | (populate ? Libc.MAP_POPULATE : 0);
        bool added = false;
        try
        {
            fd.DangerousAddRef(ref added);
            void* address = Libc.mmap(null, length, prot, flags, fd.RawFd, offset);
            if ((nint)address == Libc.MAP_FAILED)
            {
                Errno errno = ErrnoExtensions.LastPInvokeError();
                ErrnoException.Throw(errno, "mmap", fd.Path, what);
            }

            return new SafeMmapHandle(address, length);
        }
        finally
        {
            if (added)
            {
                fd.DangerousRelease();
            }
        }
    }

    /// <summary>
    /// Maps <paramref name="length"/> bytes of private anonymous memory, read-write: page-aligned,
    /// zero-filled lazily by the kernel, so untouched pages cost nothing (unlike
    /// <see cref="AlignedBuffer"/>, which clears every byte up front).
    /// </summary>
    /// <param name="length">Bytes; the kernel rounds up to whole pages.</param>
    /// <param name="what">Names the mapping in an error message.</param>
    /// <exception cref="ErrnoException">mmap failed (ENOMEM).</exception>
    public static SafeMmapHandle MapAnonymous(nuint length, string what)
    {
        ArgumentOutOfRangeException.ThrowIfZero(length);
        void* address = Libc.mmap(null, length, Libc.PROT_READ | Libc.PROT_WRITE, Libc.MAP_PRIVATE | Libc.MAP_ANONYMOUS, -1, 0);
        if ((nint)address == Libc.MAP_FAILED)
        {
            Errno errno = ErrnoExtensions.LastPInvokeError();
            ErrnoException.Throw(errno, "mmap", null, what);
        }

        return new SafeMmapHandle(address, length);
    }

    /// <inheritdoc />
    protected override bool ReleaseHandle() => Libc.munmap((void*)handle, Length) == 0;
}
