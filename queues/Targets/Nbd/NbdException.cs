namespace LoopOrder.Queues.Targets.Nbd;

/// <summary>
/// An NBD export could not be opened. The message is one line a command line tool can print as
/// is ("nbd+unix:///disk?socket=/run/nbd.sock: export refused by the server: no such export
/// (NBD_REP_ERR_UNKNOWN)"); callers branch on <see cref="Failure"/>, never on the text.
/// </summary>
public sealed class NbdException : IOException
{
    /// <summary>Creates the exception.</summary>
    /// <param name="failure">The cause.</param>
    /// <param name="message">The full one-line message.</param>
    /// <param name="inner">The socket or OS error underneath, if any.</param>
    public NbdException(NbdFailure failure, string message, Exception? inner = null)
        : base(message, inner)
    {
        Failure = failure;
    }

    /// <summary>The cause.</summary>
    public NbdFailure Failure { get; }

    /// <summary>
    /// The option reply type the server refused with (NBD_REP_ERR_*), for
    /// <see cref="NbdFailure.ExportRefused"/> and some <see cref="NbdFailure.Protocol"/> failures; 0 otherwise.
    /// </summary>
    public uint OptionReply { get; init; }
}
