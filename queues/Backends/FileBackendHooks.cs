namespace LoopOrder.Queues.Backends;

/// <summary>
/// Test seams for <see cref="FileBackend"/>: set on <see cref="FileBackend.Hooks"/> before
/// creating executors. Production leaves it null, and every use is one null check.
/// </summary>
internal sealed class FileBackendHooks
{
    /// <summary>When positive, each read or write SQE asks for at most this many bytes, forcing short-transfer resumption.</summary>
    public int MaxBytesPerSubmit { get; set; }

    /// <summary>
    /// Sees every SQE the executor prepares: (opcode, rw_flags or fsync_flags, fallocate mode, file offset, length).
    /// </summary>
    public Action<byte, uint, int, long, long>? Prepared { get; set; }

    /// <summary>Replaces the optional io_uring setup flags the executor asks for (measurements only).</summary>
    public LoopOrder.Interop.Uring.IoUringSetupFlags? OptionalRingFlags { get; set; }

    /// <summary>Sends buffered writes through the ring instead of running them inline (measurements only).</summary>
    public bool RingBufferedWrites { get; set; }

    /// <summary>
    /// Rewrites a CQE's result (or an inline write's) before the executor acts on it: (opcode, result) → result.
    /// Inject EINTR, EIO, EOPNOTSUPP or a short transfer here. It is what the kernel returned, under the executor's
    /// own retries and resumption, not a fault model: what a fault does to a whole request is LoopOrder.Verification's Fault.
    /// </summary>
    public Func<byte, int, int>? CompletionFilter { get; set; }
}
