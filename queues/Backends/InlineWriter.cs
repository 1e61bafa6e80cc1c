using LoopOrder.Interop;
using LoopOrder.Interop.Uring;
using LoopOrder.Queues.Requests;

namespace LoopOrder.Queues.Backends;

/// <summary>
/// Buffered (not O_DIRECT) writes without FUA, done with pwrite on the polling thread instead of
/// through the ring: a <see cref="FileExecutor"/> queues them as they start and writes them all
/// in its next poll.
/// </summary>
/// <remarks>
/// ext4 has no async buffered writes (no FOP_BUFFER_WASYNC; a buffered RWF_NOWAIT write fails with
/// EOPNOTSUPP): io_uring punts each one to io-wq, which hashes writes to one inode onto one worker
/// and so serialises them. A buffered write is a page-cache copy that finishes inside the call, so
/// there is nothing to keep in flight, and pwrite on the worker thread is the cheapest way to do
/// it (measured: bench/results/NOTES.md, "FileExecutor: io_uring per worker, buffered writes
/// inline"). A FUA buffered write still goes through the ring (RWF_DSYNC waits for the disk), as
/// do reads (ext4 does have async buffered reads), flushes and fallocates.
/// </remarks>
internal sealed unsafe class InlineWriter
{
    private readonly FileBackend _backend;
    private readonly FileBackendHooks? _hooks;
    private readonly int _fd;
    private readonly Queue<BlockRequest> _pending = new(FileRing.OverflowCapacity);

    /// <summary>Creates the writer of <paramref name="backend"/>'s file.</summary>
    internal InlineWriter(FileBackend backend)
    {
        _backend = backend;
        _hooks = backend.Hooks;
        _fd = backend.Fd;
    }

    /// <summary>Writes waiting for the next poll.</summary>
    internal int Queued => _pending.Count;

    /// <summary>The length of one write or read SQE: the test hook's cap, if any.</summary>
    internal static int ClampLength(FileBackendHooks? hooks, int length)
    {
        int max = hooks?.MaxBytesPerSubmit ?? 0;
        return max > 0 && length > max ? max : length;
    }

    /// <summary>Queues a plain buffered write for <see cref="WriteAll"/>.</summary>
    internal void Enqueue(BlockRequest request) => _pending.Enqueue(request);

    /// <summary>Writes every queued write on this thread into <paramref name="finished"/>; returns how many finished.</summary>
    internal int WriteAll(Queue<FileExecutor.Finished> finished)
    {
        int n = 0;
        while (_pending.TryDequeue(out BlockRequest? r))
        {
            // Queued before the guard tripped, perhaps; a write now could re-extend the cut file.
            finished.Enqueue(new FileExecutor.Finished(r, _backend.Truncation.Tripped ? Errno.EIO.ToResult() : Write(r)));
            n++;
        }

        return n;
    }

    /// <summary>One buffered write, looped until complete: short writes resume, EINTR/EAGAIN retry, 0 bytes is EIO.</summary>
    private int Write(BlockRequest r)
    {
        r.Progress = 0;
        while (r.Progress < r.ByteCount)
        {
            int length = ClampLength(_hooks, r.ByteCount - r.Progress);
            long offset = r.ByteOffset + r.Progress;
            _hooks?.Prepared?.Invoke(IoUringOp.Write, 0, 0, offset, length);
            int result = (int)FileDescriptor.TryPWrite(_fd, (byte*)r.Buffer.Address + r.Progress, (nuint)length, offset);
            if (_hooks?.CompletionFilter is { } filter)
            {
                result = filter(IoUringOp.Write, result);
            }

            if (result == Errno.EINTR.ToResult() || result == Errno.EAGAIN.ToResult())
            {
                continue;
            }

            if (result <= 0)
            {
                return result == 0 ? Errno.EIO.ToResult() : result;
            }

            r.Progress += result;
        }

        return r.ByteCount;
    }
}
