using System.Diagnostics;
using LoopOrder.Interop;

namespace LoopOrder.Queues.Backends;

/// <summary>
/// Notices that a <see cref="FileBackend"/>'s file was cut below the device's end while served
/// (someone ran truncate -s on it) and from then on fails the device closed: every request,
/// reads and flushes included, completes with EIO until the device is restarted.
/// </summary>
/// <remarks>
/// <para>
/// <b>Why fail closed.</b> Left alone, the two halves of a truncated device disagree silently: a
/// read past the new end finds end-of-file, and a write past it re-extends the file with a hole
/// in front of it, so the sectors between the cut and the write would read back as zeros that
/// nobody wrote. The loop driver does exactly that. A filesystem on the device cannot recover
/// from it; an I/O error it can report. Serving the part below the cut on would also mean that
/// one request fails and the next, from the same filesystem, succeeds; so once the cut is seen
/// everything fails, and the device must be restarted (which re-reads the size and refuses a
/// file now smaller than the device).
/// </para>
/// <para>
/// <b>How it is seen</b>, at no cost the I/O path notices: (1) a read that reaches end-of-file
/// inside the device (a 0-byte transfer) trips it at once; (2) before a write-class op, each
/// executor re-reads the size (one statx, about a microsecond) at most once per
/// <see cref="RecheckInterval"/>, so a busy executor spends under 0.1% of a core on it and an
/// idle one nothing.
/// </para>
/// <para>
/// <b>The window that remains</b> (nothing in user space closes it: there is no way to make
/// "check the size, then write" atomic against another process's ftruncate, short of a file
/// lease, whose break protocol would stall the truncating process instead). Writes that start
/// on an executor within one <see cref="RecheckInterval"/> after the cut, or that race a check,
/// still land: one past the new end re-extends the file up to its own end (sparse below it) and
/// is acknowledged. The next check on any executor then trips the guard, unless those writes
/// happened to re-extend the file back to the device's full size, in which case the size shows
/// nothing and the cut goes unnoticed until a read hits a hole it cannot tell from zeros. In
/// practice a truncate is seen within a millisecond of I/O, and a write never silently extends
/// the file after that.
/// </para>
/// </remarks>
internal sealed class TruncationGuard
{
    /// <summary>
    /// How often (Stopwatch ticks: one millisecond) each executor may re-read the file size before
    /// a write-class op. At most 1000 statx calls a second (about a microsecond each) per executor.
    /// </summary>
    internal static readonly long RecheckInterval = Stopwatch.Frequency / 1000;

    private readonly FileBackend _backend;

    /// <summary>1 once the cut was seen; never reset (the device must restart).</summary>
    private int _tripped;

    /// <summary>Guards <paramref name="backend"/>, whose device is <see cref="FileBackend.Length"/> bytes.</summary>
    internal TruncationGuard(FileBackend backend) => _backend = backend;

    /// <summary>True once the file was seen shorter than the device: every request fails with EIO.</summary>
    internal bool Tripped => Volatile.Read(ref _tripped) != 0;

    /// <summary>Called once, on the worker thread that trips the guard, with the size it saw; must not block.</summary>
    internal Action<long>? OnTripped { get; set; }

    /// <summary>
    /// Before a write-class op on an executor: -EIO once tripped; else re-reads the size when
    /// <paramref name="lastCheck"/> (the executor's own, Stopwatch ticks) is a
    /// <see cref="RecheckInterval"/> old, and trips if the file is now shorter than the device.
    /// </summary>
    internal int BeforeWrite(ref long lastCheck)
    {
        if (Tripped)
        {
            return Errno.EIO.ToResult();
        }

        long now = Stopwatch.GetTimestamp();
        if (now - lastCheck < RecheckInterval)
        {
            return 0;
        }

        lastCheck = now;
        long size = _backend.RefreshFileSize();
        if (size < _backend.Length)
        {
            Trip(size);
            return Errno.EIO.ToResult();
        }

        return 0;
    }

    /// <summary>
    /// A read reached end-of-file inside the device: the file is (or just was) shorter than the
    /// device. Trips whatever the size reads now, since writes racing with the read may already
    /// have re-extended it.
    /// </summary>
    internal void ReadHitEndOfFile() => Trip(_backend.RefreshFileSize());

    private void Trip(long size)
    {
        if (Interlocked.CompareExchange(ref _tripped, 1, 0) != 0)
        {
            return;
        }

        OnTripped?.Invoke(size);
    }
}
