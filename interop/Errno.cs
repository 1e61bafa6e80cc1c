using System.Diagnostics.CodeAnalysis;
using System.Globalization;
using System.Runtime.InteropServices;

namespace LoopOrder.Interop;

/// <summary>
/// A Linux errno, with the kernel's names: the project's one errno vocabulary. Values from
/// include/uapi/asm-generic/errno-base.h (1..34) and include/uapi/asm-generic/errno.h (35 and
/// up), which x86-64 and arm64 both use; a test checks each against the C headers.
/// </summary>
/// <remarks>
/// <para><b>One result convention</b> (see also interop/README.md):</para>
/// <list type="bullet">
/// <item>A call that only succeeds or fails returns an <see cref="Errno"/>, <see cref="None"/> on
///   success (<see cref="FileDescriptor.TryStatx"/>, <see cref="IoFlusher.TrySetCurrentThread"/>);
///   one that cannot go on throws <see cref="ErrnoException"/>, which carries the same type.</item>
/// <item>A transfer or request result is an <c>int</c> (or <c>long</c>) in the kernel's own
///   convention: a byte count or 0 on success, <c>-errno</c> on failure. That is what io_uring CQEs
///   carry and what ublk's COMMIT_AND_FETCH_REQ takes, and the engine passes request results
///   through to it untouched, so they keep that shape from the CQE to the kernel. Convert with
///   <see cref="ErrnoExtensions.ToResult"/> (<c>Errno.EIO.ToResult()</c> is -5) and
///   <see cref="ErrnoExtensions.ErrnoOf"/>; where C# needs a constant (attributes, patterns),
///   write <c>-(int)Errno.EIO</c>.</item>
/// <item>Messages and logs name an errno (<see cref="ErrnoExtensions.Name"/>,
///   <see cref="ErrnoExtensions.Describe"/>), never print its number alone.</item>
/// </list>
/// </remarks>
[SuppressMessage("Naming", "CA1707:Identifiers should not contain underscores", Justification = "Kernel names.")]
[SuppressMessage("Design", "CA1069:Enums values should not be duplicated", Justification = "errno.h defines EWOULDBLOCK and ENOTSUP as aliases.")]
[SuppressMessage("Design", "CA1008:Enums should have zero value", Justification = "None is the zero value.")]
public enum Errno
{
    /// <summary>Success: no error.</summary>
    None = 0,

    /// <summary>Operation not permitted.</summary>
    EPERM = 1,

    /// <summary>No such file or directory.</summary>
    ENOENT = 2,

    /// <summary>Interrupted system call.</summary>
    EINTR = 4,

    /// <summary>I/O error.</summary>
    EIO = 5,

    /// <summary>No such device or address.</summary>
    ENXIO = 6,

    /// <summary>Bad file descriptor.</summary>
    EBADF = 9,

    /// <summary>Try again.</summary>
    EAGAIN = 11,

    /// <summary>Same value as <see cref="EAGAIN"/> on Linux (errno.h defines it so); named EAGAIN.</summary>
    EWOULDBLOCK = EAGAIN,

    /// <summary>Out of memory.</summary>
    ENOMEM = 12,

    /// <summary>Permission denied.</summary>
    EACCES = 13,

    /// <summary>Bad address.</summary>
    EFAULT = 14,

    /// <summary>Device or resource busy.</summary>
    EBUSY = 16,

    /// <summary>File exists.</summary>
    EEXIST = 17,

    /// <summary>Cross-device link (a reflink between two filesystems).</summary>
    EXDEV = 18,

    /// <summary>No such device.</summary>
    ENODEV = 19,

    /// <summary>Is a directory.</summary>
    EISDIR = 21,

    /// <summary>Invalid argument.</summary>
    EINVAL = 22,

    /// <summary>Inappropriate ioctl for device.</summary>
    ENOTTY = 25,

    /// <summary>File too large.</summary>
    EFBIG = 27,

    /// <summary>No space left on device.</summary>
    ENOSPC = 28,

    /// <summary>Illegal seek.</summary>
    ESPIPE = 29,

    /// <summary>Read-only file system.</summary>
    EROFS = 30,

    /// <summary>Result too large (librbd: an array too small for the list asked for).</summary>
    ERANGE = 34,

    /// <summary>Function not implemented.</summary>
    ENOSYS = 38,

    /// <summary>Timer expired (io_uring timeouts complete with -ETIME).</summary>
    ETIME = 62,

    /// <summary>Value too large for defined data type.</summary>
    EOVERFLOW = 75,

    /// <summary>Operation not supported.</summary>
    EOPNOTSUPP = 95,

    /// <summary>No buffer space available (io_uring: no provided buffer left to select).</summary>
    ENOBUFS = 105,

    /// <summary>Same value as <see cref="EOPNOTSUPP"/> on Linux; named EOPNOTSUPP.</summary>
    ENOTSUP = EOPNOTSUPP,

    /// <summary>Connection timed out.</summary>
    ETIMEDOUT = 110,

    /// <summary>Connection refused (a Unix socket nobody listens on: left by a daemon that is gone).</summary>
    ECONNREFUSED = 111,

    /// <summary>Operation already in progress (io_uring cancel of a running request).</summary>
    EALREADY = 114,

    /// <summary>Quota exceeded.</summary>
    EDQUOT = 122,

    /// <summary>Operation canceled.</summary>
    ECANCELED = 125,
}

/// <summary>Names, texts and the <c>-errno</c> result conversions of <see cref="Errno"/>.</summary>
public static class ErrnoExtensions
{
    /// <summary>The symbolic name ("EACCES"), or "errno N" for a value not listed in <see cref="Errno"/>.</summary>
    /// <param name="errno">A positive errno value.</param>
    public static string Name(this Errno errno) => errno switch
    {
        // Aliases share a value; the name errno.h's strerrorname_np gives wins.
        Errno.EAGAIN => nameof(Errno.EAGAIN),
        Errno.EOPNOTSUPP => nameof(Errno.EOPNOTSUPP),
        _ when errno != Errno.None && Enum.IsDefined(errno) => errno.ToString(),
        _ => "errno " + ((int)errno).ToString(CultureInfo.InvariantCulture),
    };

    /// <summary>"Permission denied (EACCES)": the C library's text plus the symbolic name.</summary>
    /// <param name="errno">A positive errno value.</param>
    public static string Describe(this Errno errno) =>
        string.Create(CultureInfo.InvariantCulture, $"{Marshal.GetPInvokeErrorMessage((int)errno)} ({errno.Name()})");

    /// <summary>The kernel's result for this error: <c>-errno</c> (what a CQE or a ublk commit carries).</summary>
    /// <param name="errno">A positive errno value.</param>
    public static int ToResult(this Errno errno) => -(int)errno;

    /// <summary>The errno of a kernel-convention result: <see cref="Errno.None"/> for 0 or a byte count.</summary>
    /// <param name="result">A byte count, 0, or <c>-errno</c>.</param>
    public static Errno ErrnoOf(long result) => result < 0 ? (Errno)(-result) : Errno.None;

    /// <summary>A kernel-convention result for messages: "4096" for a count, "EIO" for <c>-EIO</c>.</summary>
    /// <param name="result">A byte count, 0, or <c>-errno</c>.</param>
    public static string DescribeResult(long result) =>
        result >= 0 ? result.ToString(CultureInfo.InvariantCulture) : ErrnoOf(result).Name();

    /// <summary>The calling thread's errno after a failed P/Invoke (<c>SetLastError = true</c>).</summary>
    public static Errno LastPInvokeError() => (Errno)Marshal.GetLastPInvokeError();
}
