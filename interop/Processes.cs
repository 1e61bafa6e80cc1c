using LoopOrder.Interop.Native;

namespace LoopOrder.Interop;

/// <summary>Who this process runs as, and whether another process is alive: geteuid(2), kill(2) with signal 0.</summary>
public static class Processes
{
    /// <summary>This process's effective user id.</summary>
    public static uint EffectiveUserId => Libc.geteuid();

    /// <summary>
    /// Whether <paramref name="pid"/> exists: kill(pid, 0) succeeds, or fails with EPERM (it
    /// exists and belongs to someone else). ESRCH: gone.
    /// </summary>
    /// <param name="pid">A process id.</param>
    public static bool IsAlive(int pid)
    {
        if (Libc.kill(pid, 0) == 0)
        {
            return true;
        }

        return ErrnoExtensions.LastPInvokeError() == Errno.EPERM;
    }
}
