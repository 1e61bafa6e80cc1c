using LoopOrder.Interop;

namespace LoopOrder.Queues.Targets.Nbd;

/// <summary>The one place where NBD's error values become the project's errno values.</summary>
internal static class NbdErrors
{
    /// <summary>NBD_ESHUTDOWN, which <see cref="Errno"/> does not list.</summary>
    private const uint NbdEShutdown = 108;

    /// <summary>A dropped connection fails what it carried with EIO: never a silent success.</summary>
    public const Errno ConnectionLost = Errno.EIO;

    /// <summary>
    /// The errno for an NBD error value (proto.md "Error values"). The NBD values were
    /// chosen equal to Linux's, so the known ones map to themselves. NBD_ESHUTDOWN (the server is
    /// going away; the command did not happen) becomes EIO, the error a block device reports for
    /// a lost path. Any other value is treated as NBD_EINVAL, as the document asks of clients.
    /// </summary>
    /// <param name="nbdError">The error field of a reply or error chunk (non-zero).</param>
    public static Errno ToErrno(uint nbdError) => nbdError switch
    {
        (uint)Errno.EPERM => Errno.EPERM,
        (uint)Errno.EIO => Errno.EIO,
        (uint)Errno.ENOMEM => Errno.ENOMEM,
        (uint)Errno.EINVAL => Errno.EINVAL,
        (uint)Errno.ENOSPC => Errno.ENOSPC,
        (uint)Errno.EOVERFLOW => Errno.EOVERFLOW,
        (uint)Errno.EOPNOTSUPP => Errno.EOPNOTSUPP,
        NbdEShutdown => Errno.EIO,
        _ => Errno.EINVAL,
    };
}
