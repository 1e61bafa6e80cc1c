using LoopOrder.Interop.Native;

namespace LoopOrder.Interop;

/// <summary>
/// Marks the calling thread as part of a block device's I/O path (prctl PR_SET_IO_FLUSHER), as
/// the kernel's own loop driver marks its workers: memory reclaim in this thread never waits on
/// I/O (PF_MEMALLOC_NOIO), so reclaim cannot wait on pages whose writeback needs this very
/// thread; and the page-cache writes it makes into the backing file are throttled only against
/// the backing file's own writeback (PF_LOCAL_THROTTLE), not against the global dirty limit that
/// the device it serves is itself part of.
/// </summary>
/// <remarks>Per thread (a task flag); threads the kernel creates for it, such as io_uring's io-wq workers, inherit it.</remarks>
public static class IoFlusher
{
    /// <summary>Sets the flag on the calling thread; returns <see cref="Errno.None"/>, or the errno (EPERM without CAP_SYS_RESOURCE, EINVAL before Linux 5.6).</summary>
    public static Errno TrySetCurrentThread()
    {
        if (Libc.prctl(Libc.PR_SET_IO_FLUSHER, 1, 0, 0, 0) == 0)
        {
            return Errno.None;
        }

        return ErrnoExtensions.LastPInvokeError();
    }

    /// <summary>True when the calling thread has the flag (PR_GET_IO_FLUSHER; false where the kernel lacks it).</summary>
    public static bool IsSetOnCurrentThread() => Libc.prctl(Libc.PR_GET_IO_FLUSHER, 0, 0, 0, 0) == 1;
}
