using LoopOrder.Interop;
using LoopOrder.Interop.Uring;
using LoopOrder.Queues.Requests;

namespace LoopOrder.Queues.Backends;

/// <summary>
/// The steps of an operation on the ring: which SQE each step is, and what its CQE means.
/// </summary>
/// <remarks>
/// A short read or write resumes from <see cref="BlockRequest.Progress"/>; EINTR and EAGAIN
/// resubmit; a 0-byte transfer fails with EIO (a read that hits the end of a truncated file also
/// trips the backend's <see cref="TruncationGuard"/>, which then fails every request). FUA writes
/// carry RWF_DSYNC. A flush is IORING_OP_FSYNC with DATASYNC; once one fails the backend latches
/// it and every later flush fails with EIO. A failed FUA write latches too, because its sync may
/// have consumed a writeback error that the next fdatasync would then not report. DISCARD punches
/// a hole (PUNCH_HOLE | KEEP_SIZE); WRITE_ZEROES with NOUNMAP zeroes the range (ZERO_RANGE |
/// KEEP_SIZE, keeping it allocated), without NOUNMAP punches. KEEP_SIZE is added to ZERO_RANGE so
/// that neither op can ever grow a backing file that was truncated under us. A filesystem that
/// refuses a mode with EOPNOTSUPP gets the next one down (punch, then zero range, then writing
/// zeros), remembered for the backend's lifetime.
/// </remarks>
internal sealed unsafe partial class FileRing
{
    private enum Step : byte
    {
        /// <summary>Reading or writing the request's own buffer.</summary>
        Transfer,

        /// <summary>fallocate with <see cref="Slot.Mode"/>.</summary>
        Fallocate,

        /// <summary>Writing zeros from the backend's zero buffer (fallocate fallback).</summary>
        Zeroing,

        /// <summary>fdatasync: a flush, or the durability step of a FUA discard / write-zeroes.</summary>
        Sync,
    }

    /// <summary>True when buffered, or when O_DIRECT's alignment holds (always true for the transport's page-aligned buffers and block-sized requests).</summary>
    internal static bool IsDirectIoAligned(FileBackend backend, nint buffer, long offset, long length) =>
        ((ulong)buffer & (ulong)(backend.DioMemAlign - 1)) == 0
        && ((offset | length) & (backend.DioOffsetAlign - 1)) == 0;

    private static long TotalBytes(BlockRequest r) => (long)r.SectorCount << BlockRequest.SectorShift;

    private static byte OpcodeOf(Step step, BlockRequest r) => step switch
    {
        Step.Transfer => r.Op == BlockOp.Read ? IoUringOp.Read : IoUringOp.Write,
        Step.Zeroing => IoUringOp.Write,
        Step.Fallocate => IoUringOp.Fallocate,
        _ => IoUringOp.Fsync,
    };

    private void Launch(BlockRequest r)
    {
        if (r.Op == BlockOp.Flush && _backend.SyncFailed)
        {
            // Latched: no fdatasync can make this flush true any more.
            _finished.Enqueue(new FileExecutor.Finished(r, Errno.EIO.ToResult()));
            return;
        }

        int i = _free[--_freeCount];
        _inFlight++;
        ref Slot s = ref _slots[i];
        s.Request = r;
        s.Done = 0;
        r.Progress = 0;
        switch (r.Op)
        {
            case BlockOp.Read:
            case BlockOp.Write:
                s.Step = Step.Transfer;
                break;
            case BlockOp.Flush:
                s.Step = Step.Sync;
                break;
            case BlockOp.WriteZeroes when (r.Flags & RequestFlags.NoUnmap) != 0:
                // NOUNMAP: the blocks must stay allocated, so never punch.
                SetZeroStep(ref s, allowPunch: false);
                break;
            default:
                // DISCARD, and WRITE_ZEROES without NOUNMAP: punching is allowed and cheapest.
                SetZeroStep(ref s, allowPunch: true);
                break;
        }

        if (s.Step == Step.Zeroing && !IsDirectIoAligned(_backend, _backend.Zeros, r.ByteOffset, TotalBytes(r)))
        {
            Finish(i, Errno.EINVAL.ToResult());
            return;
        }

        Prepare(i);
    }

    /// <summary>The best way to make a range read zeros that the filesystem has not refused yet.</summary>
    private void SetZeroStep(ref Slot s, bool allowPunch)
    {
        if (allowPunch && !_backend.PunchUnsupported)
        {
            s.Step = Step.Fallocate;
            s.Mode = FallocFlags.PunchHole | FallocFlags.KeepSize;
        }
        else if (!_backend.ZeroRangeUnsupported)
        {
            s.Step = Step.Fallocate;
            s.Mode = FallocFlags.ZeroRange | FallocFlags.KeepSize;
        }
        else
        {
            s.Step = Step.Zeroing;
            s.Mode = 0;
        }
    }

    /// <summary>Prepares the SQE for slot <paramref name="i"/>'s current step; submitted by the next poll.</summary>
    private void Prepare(int i)
    {
        ref Slot s = ref _slots[i];
        BlockRequest r = s.Request!;
        io_uring_sqe* sqe = NextSqe();
        ulong userData = (ulong)i;
        uint rwFlags = (r.Flags & RequestFlags.Fua) != 0 ? RwFlags.DSync : 0;
        switch (s.Step)
        {
            case Step.Transfer:
            {
                int length = InlineWriter.ClampLength(_hooks, r.ByteCount - r.Progress);
                ulong offset = (ulong)(r.ByteOffset + r.Progress);
                byte* buffer = (byte*)r.Buffer.Address + r.Progress;
                if (r.Op == BlockOp.Read)
                {
                    UringPrep.Read(sqe, _fd, buffer, (uint)length, offset, userData);
                    _hooks?.Prepared?.Invoke(IoUringOp.Read, 0, 0, (long)offset, length);
                }
                else
                {
                    UringPrep.Write(sqe, _fd, buffer, (uint)length, offset, userData, rwFlags);
                    _hooks?.Prepared?.Invoke(IoUringOp.Write, rwFlags, 0, (long)offset, length);
                }

                break;
            }

            case Step.Zeroing:
            {
                int length = InlineWriter.ClampLength(_hooks, (int)Math.Min(TotalBytes(r) - s.Done, FileBackend.ZeroChunk));
                ulong offset = (ulong)(r.ByteOffset + s.Done);
                UringPrep.Write(sqe, _fd, (void*)_backend.Zeros, (uint)length, offset, userData, rwFlags);
                _hooks?.Prepared?.Invoke(IoUringOp.Write, rwFlags, 0, (long)offset, length);
                break;
            }

            case Step.Fallocate:
                UringPrep.Fallocate(sqe, _fd, s.Mode, (ulong)r.ByteOffset, (ulong)TotalBytes(r), userData);
                _hooks?.Prepared?.Invoke(IoUringOp.Fallocate, 0, s.Mode, r.ByteOffset, TotalBytes(r));
                break;

            default:
                UringPrep.Fsync(sqe, _fd, FsyncFlags.DataSync, userData);
                _hooks?.Prepared?.Invoke(IoUringOp.Fsync, FsyncFlags.DataSync, 0, 0, 0);
                break;
        }
    }

    /// <summary>Acts on slot <paramref name="i"/>'s CQE: resubmit, move to the next step, or finish.</summary>
    private void Complete(int i, int result)
    {
        ref Slot s = ref _slots[i];
        BlockRequest r = s.Request!;
        if (_hooks?.CompletionFilter is { } filter)
        {
            result = filter(OpcodeOf(s.Step, r), result);
        }

        if (result == Errno.EINTR.ToResult() || result == Errno.EAGAIN.ToResult())
        {
            Prepare(i);
            return;
        }

        bool fua = (r.Flags & RequestFlags.Fua) != 0;
        switch (s.Step)
        {
            case Step.Transfer:
                // The one set of rules for a read or write step, shared with the transport's
                // zero-copy transfers (IRegisteredFile).
                if (_backend.TransferStepDone(r, ref result))
                {
                    Finish(i, result);
                }
                else
                {
                    Prepare(i);
                }

                break;

            case Step.Zeroing:
                if (result > 0)
                {
                    s.Done += result;
                    if (s.Done < TotalBytes(r))
                    {
                        Prepare(i);
                    }
                    else
                    {
                        Zeroed(i, fua);
                    }
                }
                else
                {
                    _backend.LatchIfFuaFailed(fua, result);
                    Finish(i, result == 0 ? Errno.EIO.ToResult() : result);
                }

                break;

            case Step.Fallocate:
                if (result == Errno.EOPNOTSUPP.ToResult())
                {
                    _backend.MarkUnsupported(s.Mode);
                    SetZeroStep(ref s, allowPunch: false);
                    if (s.Step == Step.Zeroing && !IsDirectIoAligned(_backend, _backend.Zeros, r.ByteOffset, TotalBytes(r)))
                    {
                        Finish(i, Errno.EINVAL.ToResult());
                    }
                    else
                    {
                        Prepare(i);
                    }
                }
                else if (result < 0)
                {
                    Finish(i, result);
                }
                else
                {
                    Zeroed(i, fua);
                }

                break;

            default:
                if (result < 0)
                {
                    _backend.LatchSyncFailure();
                    Finish(i, Errno.EIO.ToResult());
                }
                else
                {
                    // A flush that succeeded after another's failure was latched proves nothing:
                    // that failure may have consumed the error covering this flush's writes.
                    Finish(i, r.Op == BlockOp.Flush && _backend.SyncFailed ? Errno.EIO.ToResult() : 0);
                }

                break;
        }
    }

    /// <summary>A discard / write-zeroes range is done; a FUA one still needs its fdatasync.</summary>
    private void Zeroed(int i, bool fua)
    {
        if (fua)
        {
            _slots[i].Step = Step.Sync;
            Prepare(i);
        }
        else
        {
            Finish(i, 0);
        }
    }
}
