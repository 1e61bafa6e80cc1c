namespace LoopOrder.Interop;

/// <summary>
/// Linux errno values the project reacts to, from include/uapi/asm-generic/errno-base.h (1..34)
/// and include/uapi/asm-generic/errno.h (35 and up), which x86-64 and arm64 both use.
/// </summary>
public static class Errno
{
    /// <summary>Operation not permitted.</summary>
    public const int EPERM = 1;
    /// <summary>No such file or directory.</summary>
    public const int ENOENT = 2;
    /// <summary>Interrupted system call.</summary>
    public const int EINTR = 4;
    /// <summary>I/O error.</summary>
    public const int EIO = 5;
    /// <summary>No such device or address.</summary>
    public const int ENXIO = 6;
    /// <summary>Bad file descriptor.</summary>
    public const int EBADF = 9;
    /// <summary>Try again.</summary>
    public const int EAGAIN = 11;
    /// <summary>Same value as <see cref="EAGAIN"/> on Linux (errno.h defines it so).</summary>
    public const int EWOULDBLOCK = EAGAIN;
    /// <summary>Out of memory.</summary>
    public const int ENOMEM = 12;
    /// <summary>Permission denied.</summary>
    public const int EACCES = 13;
    /// <summary>Bad address.</summary>
    public const int EFAULT = 14;
    /// <summary>Device or resource busy.</summary>
    public const int EBUSY = 16;
    /// <summary>File exists.</summary>
    public const int EEXIST = 17;
    /// <summary>No such device.</summary>
    public const int ENODEV = 19;
    /// <summary>Is a directory.</summary>
    public const int EISDIR = 21;
    /// <summary>Invalid argument.</summary>
    public const int EINVAL = 22;
    /// <summary>Inappropriate ioctl for device.</summary>
    public const int ENOTTY = 25;
    /// <summary>File too large.</summary>
    public const int EFBIG = 27;
    /// <summary>No space left on device.</summary>
    public const int ENOSPC = 28;
    /// <summary>Illegal seek.</summary>
    public const int ESPIPE = 29;
    /// <summary>Read-only file system.</summary>
    public const int EROFS = 30;
    /// <summary>Function not implemented.</summary>
    public const int ENOSYS = 38;
    /// <summary>Timer expired (io_uring timeouts complete with -ETIME).</summary>
    public const int ETIME = 62;
    /// <summary>Value too large for defined data type.</summary>
    public const int EOVERFLOW = 75;
    /// <summary>Operation not supported.</summary>
    public const int EOPNOTSUPP = 95;
    /// <summary>Same value as <see cref="EOPNOTSUPP"/> on Linux.</summary>
    public const int ENOTSUP = EOPNOTSUPP;
    /// <summary>Connection timed out.</summary>
    public const int ETIMEDOUT = 110;
    /// <summary>Operation already in progress (io_uring cancel of a running request).</summary>
    public const int EALREADY = 114;
    /// <summary>Quota exceeded.</summary>
    public const int EDQUOT = 122;
    /// <summary>Operation canceled.</summary>
    public const int ECANCELED = 125;

    /// <summary>The symbolic name of an errno ("EACCES"), or "errno N" for one not listed here.</summary>
    /// <param name="errno">A positive errno value.</param>
    public static string Name(int errno) => errno switch
    {
        EPERM => nameof(EPERM),
        ENOENT => nameof(ENOENT),
        EINTR => nameof(EINTR),
        EIO => nameof(EIO),
        ENXIO => nameof(ENXIO),
        EBADF => nameof(EBADF),
        EAGAIN => nameof(EAGAIN),
        ENOMEM => nameof(ENOMEM),
        EACCES => nameof(EACCES),
        EFAULT => nameof(EFAULT),
        EBUSY => nameof(EBUSY),
        EEXIST => nameof(EEXIST),
        ENODEV => nameof(ENODEV),
        EISDIR => nameof(EISDIR),
        EINVAL => nameof(EINVAL),
        ENOTTY => nameof(ENOTTY),
        EFBIG => nameof(EFBIG),
        ENOSPC => nameof(ENOSPC),
        ESPIPE => nameof(ESPIPE),
        EROFS => nameof(EROFS),
        ENOSYS => nameof(ENOSYS),
        ETIME => nameof(ETIME),
        EOVERFLOW => nameof(EOVERFLOW),
        EOPNOTSUPP => nameof(EOPNOTSUPP),
        ETIMEDOUT => nameof(ETIMEDOUT),
        EALREADY => nameof(EALREADY),
        EDQUOT => nameof(EDQUOT),
        ECANCELED => nameof(ECANCELED),
        _ => "errno " + errno.ToString(System.Globalization.CultureInfo.InvariantCulture),
    };
}
