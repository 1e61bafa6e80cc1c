using System.Diagnostics;
using LoopOrder.Interop;
using LoopOrder.Interop.Uring;
using LoopOrder.Queues.Backends;
using LoopOrder.Queues.Requests;

namespace LoopOrder.Ublk.Queue;

/// <summary>
/// File reads and writes the queue thread does on its own ring. Two cases. Zero copy
/// (UBLK_F_AUTO_BUF_REG): the driver registers each request's own pages in this queue's ring,
/// in the slot its fetch named (the tag), and copies nothing into the tag buffers; only an
/// operation on this ring reaches those pages, so the queue thread moves every read and write
/// between them and the backing file (READ_FIXED / WRITE_FIXED); COMMIT_AND_FETCH_REQ
/// unregisters the pages again. With copies, over a file that prefers it (O_DIRECT, see
/// <see cref="IRegisteredFile.PrefersTransportTransfers"/>): plain READ / WRITE from the tag
/// buffer, which saves the hand-over to a socket worker and back. Either way the transfer
/// starts wherever the engine released the request: released on this thread, it is prepared at
/// once; released on another (a write held behind a flush, released when the flush lands on a
/// worker), the tag is pushed on a lock-free stack and the thread woken, as completions are.
/// </summary>
/// <remarks>
/// Everything else (flushes, discards) still goes to the socket workers: no data, nothing to
/// gain. Why the pages and not a copy: a buffered write then costs one kernel copy (request pages
/// to page cache) instead of two through user memory, a direct write none
/// (bench/results/ab-zero-copy).
/// </remarks>
internal sealed unsafe partial class UblkQueue
{
    /// <summary>user_data of a transfer's CQE: this plus the tag; above every tag (0..4095), below the waker's.</summary>
    private const ulong TransferUserData = 1UL << 32;

    /// <summary>Per tag: the next tag down the handed-over transfer stack, or -1.</summary>
    private readonly int[] _transferNext;

    /// <summary>Per tag: the file its transfer reads or writes, from its start to its end.</summary>
    private readonly IRegisteredFile?[] _transferFiles;

    /// <summary>Per tag: where the transfer's end is reported, from its start to its end.</summary>
    private readonly IBackendCompletion?[] _transferCompletions;

    /// <summary>Top of the stack of transfers handed over by other threads (as <see cref="_completedHead"/>); -1 when empty.</summary>
    private int _transferHead = -1;

    /// <summary>The queue thread's ring, once made; only that thread uses it.</summary>
    private IoUring? _ring;

    /// <summary>The queue thread's managed id, once it runs: a transfer released there is prepared at once.</summary>
    private int _threadId;

    /// <inheritdoc />
    public void StartTransfer(BlockRequest request, IRegisteredFile file, IBackendCompletion completion)
    {
        Debug.Assert(request.Buffer.TryGetTransport(out IRegisteredData? owner) && owner == this, $"{request} is not this queue's request");
        int tag = request.Tag;
        request.Progress = 0;
        _transferFiles[tag] = file;
        _transferCompletions[tag] = completion;
        if (Environment.CurrentManagedThreadId == _threadId)
        {
            BeginTransfer(tag);
            return;
        }

        PushAndWake(ref _transferHead, _transferNext, tag);
    }

    /// <summary>
    /// Starts what other threads handed over: one pop takes the whole stack. Queue thread, every
    /// round: an empty stack costs a plain read, not the locked exchange.
    /// </summary>
    private void StartHandedTransfers()
    {
        if (Volatile.Read(ref _transferHead) < 0)
        {
            return;
        }

        int tag = Interlocked.Exchange(ref _transferHead, -1);
        while (tag >= 0)
        {
            int next = _transferNext[tag];
            BeginTransfer(tag);
            tag = next;
        }
    }

    /// <summary>Checks the request against the file, then sends its transfer, or finishes it with the check's error. Queue thread.</summary>
    private void BeginTransfer(int tag)
    {
        int error = _transferFiles[tag]!.CheckTransfer(_requests[tag]);
        if (error != 0)
        {
            FinishTransfer(tag, error);
            return;
        }

        SendTransfer(tag);
    }

    /// <summary>
    /// Prepares the read or write of what is left of the tag's request (from its Progress): fixed,
    /// from the registered pages in slot = tag, with zero copy; plain, from the tag's buffer the
    /// kernel copied the data into, with copies. Queue thread.
    /// </summary>
    private void SendTransfer(int tag)
    {
        BlockRequest r = _requests[tag];
        io_uring_sqe* sqe = NextSqe(_ring!);
        bool write = r.Op == BlockOp.Write;
        int fd = _transferFiles[tag]!.TransferFd;
        uint length = (uint)(r.ByteCount - r.Progress);
        ulong offset = (ulong)(r.ByteOffset + r.Progress);
        ulong userData = TransferUserData + (ulong)tag;
        uint rwFlags = write && (r.Flags & RequestFlags.Fua) != 0 ? RwFlags.DSync : 0;
        if (_options.ZeroCopy)
        {
            UringPrep.RwFixed(sqe, write, fd, (ushort)tag, (ulong)r.Progress, length, offset, userData, rwFlags);
        }
        else if (write)
        {
            UringPrep.Write(sqe, fd, (byte*)BufferOf(tag) + r.Progress, length, offset, userData, rwFlags);
        }
        else
        {
            UringPrep.Read(sqe, fd, (byte*)BufferOf(tag) + r.Progress, length, offset, userData);
        }
    }

    /// <summary>A transfer's CQE: continue it, or report it. Queue thread.</summary>
    private void TransferStepCompleted(int tag, int result)
    {
        if (_transferFiles[tag]!.TransferStepDone(_requests[tag], ref result))
        {
            FinishTransfer(tag, result);
        }
        else
        {
            SendTransfer(tag);
        }
    }

    /// <summary>Reports the transfer's end to the engine, which completes the request back to this queue. Queue thread.</summary>
    private void FinishTransfer(int tag, int result)
    {
        IBackendCompletion completion = _transferCompletions[tag]!;
        _transferFiles[tag] = null;
        _transferCompletions[tag] = null;
        completion.Landed(_requests[tag], result);
    }
}
