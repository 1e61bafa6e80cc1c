using LoopOrder.Interop;
using LoopOrder.Interop.Rbd;
using LoopOrder.Queues.Backends;
using LoopOrder.Queues.Requests;

namespace LoopOrder.Queues.Targets.Rbd;

/// <summary>
/// Runs an <see cref="RbdBackend"/>'s requests for one worker thread: <see cref="Start"/> hands
/// each to librbd's aio under a slot number of this executor; librbd's completion callback
/// (<see cref="RbdCompletions"/>, on a librbd thread) only queues the slot and its result here and
/// wakes the owner, and <see cref="Poll"/> reports them on the owner thread. Why not report from
/// the callback: a report may release further requests, which would then start on librbd's
/// thread, and librbd's threads must not block.
/// </summary>
/// <remarks>
/// Operations: a read or write is rbd_aio_read/write; a FUA write is the write and then, from
/// <see cref="Poll"/> once it completed, an rbd_aio_flush (librbd has no FUA), and fails if either
/// does, where librbd caches (<see cref="RbdBackend.FlushNeeded"/>), else just the write; a discard and a write-zeroes are both rbd_aio_write_zeroes (librbd deallocates whole
/// objects and zeroes the rest, so both read back as zeros; a bare rbd_aio_discard may skip
/// partial objects); a flush is rbd_aio_flush where librbd caches, and
/// completes at once where it does not (a completed write is on the OSDs). Slots are this executor's: an array that grows
/// only while the number in flight reaches a new high, so steady state allocates nothing.
/// </remarks>
internal sealed class RbdExecutor : IBackendExecutor, IRbdCompletionSink
{
    private readonly RbdBackend _backend;
    private readonly IBackendCompletion _completion;
    private readonly int _sink;

    /// <summary>Finished on another thread, not yet reported.</summary>
    private readonly CompletionMailbox<(int Slot, long Result)> _done = new();

    // Owner thread only.
    private BlockRequest?[] _requests = new BlockRequest?[64];
    private bool[] _fuaFlush = new bool[64];
    private int[] _free = new int[64];
    private int _freeCount;
    private int _slots;

    internal RbdExecutor(RbdBackend backend, IBackendCompletion completion)
    {
        _backend = backend;
        _completion = completion;
        _sink = RbdCompletions.Register(this);
    }

    /// <inheritdoc />
    public void Start(BlockRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        int slot = Take(request);
        if (request.Op == BlockOp.Flush && (_backend.FlushLatched || !_backend.FlushNeeded))
        {
            // Latched: no flush can be true any more. Not needed: every write that completed is
            // on the OSDs already, and the Sequencer handed this flush over only once the writes
            // it covers completed (drain, strict), or as the kernel asks (none: the completed ones).
            RbdCompleted(slot, _backend.FlushLatched ? Errno.EIO.ToResult() : 0);
            return;
        }

        RbdImage image = _backend.Image;
        Errno e = request.Op switch
        {
            BlockOp.Read => image.StartRead(request.ByteOffset, request.ByteCount, request.Buffer.Address, _sink, slot),
            BlockOp.Write => image.StartWrite(request.ByteOffset, request.ByteCount, request.Buffer.Address, _sink, slot),
            BlockOp.Discard or BlockOp.WriteZeroes => image.StartWriteZeroes(request.ByteOffset, request.ByteCount, _sink, slot),
            BlockOp.Flush => _backend.StartFlush(_sink, slot),
            _ => Errno.EOPNOTSUPP,
        };
        if (e != Errno.None)
        {
            // Not started: no callback will come; report it from Poll like any other result.
            RbdCompleted(slot, e.ToResult());
        }
    }

    /// <summary>librbd finished slot <paramref name="slot"/> (a librbd thread): queue it for the owner.</summary>
    public void RbdCompleted(int slot, long result)
    {
        _done.Post((slot, result));
    }

    /// <inheritdoc />
    public void Poll(bool block)
    {
        // Each report outside the mailbox's lock: it may start more requests on this thread.
        while (_done.TryTake(ref block, out (int Slot, long Result) d))
        {
            Finished(d.Slot, d.Result);
        }
    }

    /// <inheritdoc />
    public void Wake() => _done.Wake();

    /// <inheritdoc />
    public void Dispose() => RbdCompletions.Unregister(_sink);

    private void Finished(int slot, long result)
    {
        BlockRequest request = _requests[slot]!;
        bool fua = request.Op == BlockOp.Write && (request.Flags & RequestFlags.Fua) != 0;
        if (fua && result >= 0 && !_fuaFlush[slot] && _backend.FlushNeeded)
        {
            // The write is in librbd's cache; the flush makes it durable before the acknowledgement.
            _fuaFlush[slot] = true;
            Errno e = _backend.StartFlush(_sink, slot);
            if (e == Errno.None)
            {
                return;
            }

            result = e.ToResult();
        }

        Release(slot);
        int reported;
        if (result < 0)
        {
            _backend.RequestFailed((Errno)(int)-result);
            if (request.Op == BlockOp.Flush || (request.IsWriteClass && (request.Flags & RequestFlags.Fua) != 0))
            {
                _backend.LatchFlush();
            }

            // ETIMEDOUT, ESHUTDOWN (blocklisted), EROFS (lock lost)... are all an I/O error to the
            // block layer; a full pool or quota stays what it is.
            reported = (Errno)(int)-result is Errno.ENOSPC or Errno.EDQUOT ? (int)result : Errno.EIO.ToResult();
        }
        else
        {
            reported = request.Op switch
            {
                BlockOp.Read => (int)result,
                BlockOp.Flush => 0,
                _ => request.ByteCount,
            };
        }

        _completion.Landed(request, reported);
    }

    private int Take(BlockRequest request)
    {
        int slot;
        if (_freeCount > 0)
        {
            slot = _free[--_freeCount];
        }
        else
        {
            if (_slots == _requests.Length)
            {
                // A new high of requests in flight: grow once; steady state reuses slots.
                Array.Resize(ref _requests, _slots * 2);
                Array.Resize(ref _fuaFlush, _slots * 2);
                Array.Resize(ref _free, _slots * 2);
            }

            slot = _slots++;
        }

        _requests[slot] = request;
        _fuaFlush[slot] = false;
        return slot;
    }

    private void Release(int slot)
    {
        _requests[slot] = null;
        _free[_freeCount++] = slot;
    }
}
