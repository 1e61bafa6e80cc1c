using LoopOrder.Ublk.Control;

namespace LoopOrder.Ublk.Tests.Kernel;

/// <summary>
/// A test that needs the kernel's ublk_drv: reported as Skipped, not passed, on a host without
/// /dev/ublk-control (the development hosts and CI runners), and run for real in the VM (the
/// e2e suite's "transport" test, which fails if any of them is skipped there).
/// </summary>
[AttributeUsage(AttributeTargets.Method, AllowMultiple = false)]
public sealed class KernelFactAttribute : FactAttribute
{
    /// <summary>Why the test is skipped on this host, as the runner prints it.</summary>
    public const string NoUblk = "needs ublk: " + UblkControl.DefaultPath + " is absent on this host (modprobe ublk_drv, or run it in the VM: tests/vm/e2e/run.sh transport)";

    /// <summary>Skips the test unless this host has ublk.</summary>
    public KernelFactAttribute()
    {
        if (!HostHasUblk)
        {
            Skip = NoUblk;
        }
    }

    /// <summary>True when the kernel offers ublk here.</summary>
    public static bool HostHasUblk => File.Exists(UblkControl.DefaultPath);
}

/// <summary>
/// A test of what a host WITHOUT ublk does (exit 69, nothing created): reported as Skipped where
/// ublk is present (the VM), where it could not show that behaviour.
/// </summary>
[AttributeUsage(AttributeTargets.Method, AllowMultiple = false)]
public sealed class NoUblkFactAttribute : FactAttribute
{
    /// <summary>Skips the test where this host has ublk.</summary>
    public NoUblkFactAttribute()
    {
        if (KernelFactAttribute.HostHasUblk)
        {
            Skip = "shows what a host without ublk does; this one has " + UblkControl.DefaultPath;
        }
    }
}
