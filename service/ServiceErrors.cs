using LoopOrder.Interop;
using LoopOrder.Queues.Targets;
using LoopOrder.Ublk.Control;

namespace LoopOrder.Service;

/// <summary>
/// A failure with the exit code it means and a message for a human that says what to do. Thrown
/// by the daemon and the commands; <see cref="ServiceErrors.From"/> turns any other exception into one.
/// </summary>
public sealed class ServiceException : Exception
{
    /// <summary>A failure with its exit code.</summary>
    /// <param name="exitCode">One of <see cref="ExitCodes"/>.</param>
    /// <param name="message">What went wrong and what to do.</param>
    /// <param name="inner">The cause, if any.</param>
    public ServiceException(int exitCode, string message, Exception? inner = null)
        : base(message, inner) => ExitCode = exitCode;

    /// <summary>A failure (exit code 1).</summary>
    public ServiceException()
        : this(ExitCodes.Failure, "failed")
    {
    }

    /// <summary>A failure (exit code 1).</summary>
    /// <param name="message">What went wrong.</param>
    public ServiceException(string message)
        : this(ExitCodes.Failure, message)
    {
    }

    /// <summary>A failure (exit code 1).</summary>
    /// <param name="message">What went wrong.</param>
    /// <param name="inner">The cause.</param>
    public ServiceException(string message, Exception inner)
        : this(ExitCodes.Failure, message, inner)
    {
    }

    /// <summary>One of <see cref="ExitCodes"/>.</summary>
    public int ExitCode { get; }
}

/// <summary>The one place failures become exit codes.</summary>
public static class ServiceErrors
{
    /// <summary>Classifies <paramref name="e"/>: its exit code and a message that says what to do.</summary>
    /// <param name="e">Any failure.</param>
    public static ServiceException From(Exception e)
    {
        ArgumentNullException.ThrowIfNull(e);
        return e switch
        {
            ServiceException s => s,
            UblkUnavailableException u => new(ExitCodes.Unavailable, u.Message, u),
            UblkFeatureUnavailableException f => new(ExitCodes.Unavailable, f.Message, f),
            TargetException t => new(
                t.Failure switch
                {
                    TargetFailure.NoInput => ExitCodes.NoInput,
                    TargetFailure.Unavailable => ExitCodes.Unavailable,
                    TargetFailure.InUse => ExitCodes.InUse,
                    TargetFailure.NoPermission => ExitCodes.NoPermission,
                    _ => ExitCodes.Usage,
                },
                t.Message,
                t),
            Microsoft.Extensions.Options.OptionsValidationException o =>
                new(ExitCodes.Config, $"invalid configuration: {string.Join("; ", o.Failures)}. Fix appsettings.json (or /etc/loop-order/appsettings.json).", o),
            ErrnoException { Errno: Errno.EPERM or Errno.EACCES or Errno.EROFS } x when IsFileProblem(x) =>
                new(ExitCodes.NoPermission, x.Message, x),
            ErrnoException { Errno: Errno.EPERM or Errno.EACCES } x =>
                new(ExitCodes.NoPermission, $"{x.Message}. ublk devices and the control socket need root: run with sudo.", x),
            ErrnoException x when IsFileProblem(x) => new(ExitCodes.NoInput, x.Message, x),
            ErrnoException x => new(ExitCodes.OsError, x.Message, x),
            UnauthorizedAccessException u => new(ExitCodes.NoPermission, $"{u.Message} Run with sudo.", u),
            ArgumentException a => new(ExitCodes.Usage, a.Message, a),
            FormatException f => new(ExitCodes.Usage, f.Message, f),
            IOException io => new(ExitCodes.OsError, io.Message, io),
            _ => new(ExitCodes.Failure, $"{e.GetType().Name}: {e.Message}", e),
        };
    }

    /// <summary>True for errors opening a backing file (the backend's messages name the file and the fix).</summary>
    private static bool IsFileProblem(ErrnoException e) =>
        e.Operation is "open" or "flock" or "statx" or "fstat";
}
