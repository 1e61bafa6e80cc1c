using LoopOrder.Interop.Native;
using Microsoft.Win32.SafeHandles;

namespace LoopOrder.Interop;

/// <summary>
/// An owned Linux file descriptor, closed exactly once when disposed or finalized.
/// </summary>
/// <remarks>
/// Ring operations take the raw number (<see cref="RawFd"/>) so that preparing an SQE costs no
/// reference counting; the owner must keep this handle alive until every operation that names
/// the number has completed, or the number may be reused by an unrelated open.
/// </remarks>
public sealed class SafeFileDescriptor : SafeHandleMinusOneIsInvalid
{
    /// <summary>Creates an invalid handle (the marshaller's constructor).</summary>
    public SafeFileDescriptor()
        : base(ownsHandle: true)
    {
    }

    /// <summary>Wraps an existing descriptor.</summary>
    /// <param name="fd">The descriptor number.</param>
    /// <param name="ownsHandle">Whether disposing this handle closes <paramref name="fd"/>.</param>
    /// <param name="path">What the descriptor refers to, for error messages.</param>
    public SafeFileDescriptor(int fd, bool ownsHandle, string? path = null)
        : base(ownsHandle)
    {
        SetHandle(fd);
        Path = path;
    }

    /// <summary>The path this descriptor was opened from, when known; used in error messages.</summary>
    public string? Path { get; }

    /// <summary>
    /// The descriptor number, for SQEs and raw calls. Valid only while this handle is alive and
    /// not disposed (see the type remarks).
    /// </summary>
    public int RawFd => (int)handle;

    /// <inheritdoc />
    protected override bool ReleaseHandle()
    {
        // Linux releases the descriptor even when close reports EINTR or EIO, so retrying could
        // close a number another thread has just been given; a deferred write error is reported
        // by fdatasync, which the backend calls before it trusts any data.
        _ = Libc.close((int)handle);
        return true;
    }
}
