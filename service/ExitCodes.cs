namespace LoopOrder.Service;

/// <summary>Process exit codes, from sysexits.h where one fits, so scripts and systemd can tell failures apart.</summary>
public static class ExitCodes
{
    /// <summary>Success.</summary>
    public const int Ok = 0;

    /// <summary>Anything not covered below.</summary>
    public const int Failure = 1;

    /// <summary>EX_USAGE: the command line is wrong.</summary>
    public const int Usage = 64;

    /// <summary>EX_NOINPUT: the backing file is missing (and no size was given to create it) or unusable.</summary>
    public const int NoInput = 66;

    /// <summary>EX_UNAVAILABLE: this machine has no ublk (ublk_drv not loaded) or no io_uring.</summary>
    public const int Unavailable = 69;

    /// <summary>EX_IOERR: an I/O error, e.g. the final fdatasync failed.</summary>
    public const int IoError = 74;

    /// <summary>EX_NOPERM: not allowed (ublk needs root).</summary>
    public const int NoPermission = 77;
}
