using System.Diagnostics.CodeAnalysis;
using System.Globalization;

namespace LoopOrder.Interop;

/// <summary>
/// A failed Linux call, with its errno: "open /x: Permission denied (EACCES)".
/// </summary>
/// <remarks>
/// Callers branch on <see cref="Errno"/> (for example EWOULDBLOCK from a lock, ENOENT from a
/// missing device node), never on the message. The ublk transport turns it back into a
/// negative result with <c>ex.Errno.ToResult()</c>.
/// </remarks>
public sealed class ErrnoException : IOException
{
    /// <summary>Creates an exception for <paramref name="errno"/> with a caller-made message.</summary>
    /// <param name="errno">The errno.</param>
    /// <param name="message">The full message.</param>
    public ErrnoException(Errno errno, string message)
        : base(message)
    {
        Errno = errno;
        Operation = string.Empty;
    }

    private ErrnoException(Errno errno, string operation, string? path, string message)
        : base(message)
    {
        Errno = errno;
        Operation = operation;
        Path = path;
    }

    /// <summary>The errno.</summary>
    public Errno Errno { get; }

    /// <summary>The failed call ("open", "io_uring_setup", ...), empty when built from a bare message.</summary>
    public string Operation { get; }

    /// <summary>The file the call was about, when there was one.</summary>
    public string? Path { get; }

    /// <summary>Builds the exception for a failed <paramref name="operation"/> on <paramref name="path"/>.</summary>
    /// <param name="errno">The errno, captured right after the failing call.</param>
    /// <param name="operation">The call, e.g. "open".</param>
    /// <param name="path">The file or device, if any.</param>
    /// <param name="detail">Extra words appended after the errno text, e.g. "the file is in use".</param>
    public static ErrnoException FromErrno(Errno errno, string operation, string? path = null, string? detail = null)
    {
        string text = Describe(errno);
        string subject = path is null ? operation : operation + " " + path;
        string message = detail is null
            ? string.Create(CultureInfo.InvariantCulture, $"{subject}: {text}")
            : string.Create(CultureInfo.InvariantCulture, $"{subject}: {text}: {detail}");
        return new ErrnoException(errno, operation, path, message);
    }

    /// <summary>Throws <see cref="FromErrno"/>; a separate method keeps throw sites out of hot loops.</summary>
    /// <param name="errno">The errno, captured right after the failing call.</param>
    /// <param name="operation">The call, e.g. "open".</param>
    /// <param name="path">The file or device, if any.</param>
    /// <param name="detail">Extra words appended after the errno text.</param>
    [DoesNotReturn]
    public static void Throw(Errno errno, string operation, string? path = null, string? detail = null) =>
        throw FromErrno(errno, operation, path, detail);

    /// <summary>"Permission denied (EACCES)": the C library's text plus the symbolic name.</summary>
    /// <param name="errno">The errno.</param>
    public static string Describe(Errno errno) => errno.Describe();
}
