namespace LoopOrder.Service;

/// <summary>
/// Process exit codes, from sysexits.h where one fits, so scripts and systemd can tell failures
/// apart. <see cref="ServiceErrors"/> maps failures to them, in one place.
/// </summary>
public static class ExitCodes
{
    /// <summary>Success.</summary>
    public const int Ok = 0;

    /// <summary>Anything not covered below.</summary>
    public const int Failure = 1;

    /// <summary>EX_USAGE: the command line is wrong (an unknown option, a bad size, queue count or depth).</summary>
    public const int Usage = 64;

    /// <summary>EX_NOINPUT: the backing file is missing (and no size was given to create it), too small, a directory, or already served.</summary>
    public const int NoInput = 66;

    /// <summary>EX_UNAVAILABLE: this machine has no ublk (ublk_drv not loaded) or no io_uring, or no daemon answers.</summary>
    public const int Unavailable = 69;

    /// <summary>EX_OSERR: a system call or ublk control command failed.</summary>
    public const int OsError = 71;

    /// <summary>EX_IOERR: an I/O error, e.g. the final fdatasync failed.</summary>
    public const int IoError = 74;

    /// <summary>EX_TEMPFAIL: not now, try again: del of a device that is open or mounted (unmount it, or --force).</summary>
    public const int InUse = 75;

    /// <summary>EX_NOPERM: not allowed (ublk and the control socket need root; the file is not writable).</summary>
    public const int NoPermission = 77;

    /// <summary>EX_CONFIG: appsettings.json (or a device record) is invalid.</summary>
    public const int Config = 78;
}
