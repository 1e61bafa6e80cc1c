namespace LoopOrder.Ublk.Control;

/// <summary>
/// This machine cannot create ublk devices: /dev/ublk-control is missing (the ublk_drv module is
/// not loaded, or the kernel was built without it). The message says what to load.
/// </summary>
public sealed class UblkUnavailableException : IOException
{
    /// <summary>Creates the exception for a missing control device.</summary>
    /// <param name="controlPath">The path that was tried.</param>
    public UblkUnavailableException(string controlPath)
        : base(
            $"ublk is not available: {controlPath} does not exist, so the ublk_drv kernel module is not loaded. " +
            "Load it with 'modprobe ublk_drv' (as root; it needs Linux 6.0 or later built with CONFIG_BLK_DEV_UBLK).")
    {
        ControlPath = controlPath;
    }

    /// <summary>Creates the exception with a caller-made message.</summary>
    /// <param name="controlPath">The path that was tried.</param>
    /// <param name="message">The message.</param>
    /// <param name="inner">The cause.</param>
    public UblkUnavailableException(string controlPath, string message, Exception? inner)
        : base(message, inner)
    {
        ControlPath = controlPath;
    }

    /// <summary>The control device path that was tried.</summary>
    public string ControlPath { get; }
}
