using System.Diagnostics;
using LoopOrder.Interop;
using LoopOrder.Interop.Uring;
using LoopOrder.Ublk.Protocol;
using LoopOrder.Ublk.Structs;
using Microsoft.Extensions.Logging;

namespace LoopOrder.Ublk.Queue;

/// <summary>
/// Batched commands (UBLK_F_BATCH_IO, 7.0+): instead of one command in flight per tag, the queue
/// arms every tag with one PREP_IO_CMDS, learns of new requests from two multishot FETCH_IO_CMDS
/// (each CQE carries the tags of every request that arrived since the last, written into a
/// provided buffer), and completes whatever the workers finished since the last round with one
/// COMMIT_IO_CMDS. The per-tag cycle (descriptor, request, engine, <see cref="Complete"/>) is the
/// same; only the commands around it change.
/// </summary>
/// <remarks>
/// <para>
/// <b>Two fetches</b>, as the driver expects: while one is re-armed (its buffers ran out, or
/// a CQE could not be posted) the other carries the tags. Each has its own buffer group of two
/// one-page buffers, consumed a piece per CQE (IOU_PBUF_RING_INC): a CQE without
/// IORING_CQE_F_BUF_MORE hands its buffer back, and it is provided again at once.
/// </para>
/// <para>
/// <b>Element buffers</b>: the kernel reads a COMMIT's elements while it handles the command,
/// which it does inside the submit that carries it, so a buffer is free again once its CQE is in;
/// a round builds its COMMIT before it reaps the previous round's CQEs, so two buffers would do.
/// <see cref="CommitBuffers"/> of them leave room; if all are somehow still in flight the tags
/// wait on a thread-local list for the next round instead of overwriting one.
/// </para>
/// </remarks>
internal sealed unsafe partial class UblkQueue
{
    /// <summary>user_data of a FETCH_IO_CMDS CQE: this plus the fetch (0 or 1); above the transfers' range.</summary>
    private const ulong BatchFetchUserData = 2UL << 32;

    /// <summary>user_data of a COMMIT_IO_CMDS CQE: this plus the element buffer.</summary>
    private const ulong BatchCommitUserData = 3UL << 32;

    /// <summary>user_data of the PREP_IO_CMDS CQE.</summary>
    private const ulong BatchPrepUserData = 4UL << 32;

    /// <summary>FETCH_IO_CMDS kept armed at once: the driver hands tags to one and keeps the other ready.</summary>
    private const int Fetches = 2;

    /// <summary>Provided buffers per fetch: one can be re-provided while the kernel fills the other.</summary>
    private const int FetchBuffersPerGroup = 2;

    /// <summary>Element buffers for COMMIT_IO_CMDS (see the type remarks: two would do).</summary>
    private const int CommitBuffers = 4;

    /// <summary>The element arrays: PREP's, then <see cref="CommitBuffers"/> for commits, each room for every tag.</summary>
    private SafeMmapHandle? _batchElements;

    /// <summary>Bytes per element: the header, plus the buffer address when the kernel copies (no zero copy).</summary>
    private int _elementBytes;

    /// <summary>Bit i set while commit buffer i is in flight.</summary>
    private int _commitsInFlight;

    /// <summary>Per commit buffer: the elements its COMMIT carried, to check its CQE.</summary>
    private readonly int[] _commitCounts = new int[CommitBuffers];

    /// <summary>Completed tags that found no free commit buffer (linked through <see cref="_completedNext"/>); queue thread only; -1 when none.</summary>
    private int _commitDeferred = -1;

    /// <summary>The fetches' tag buffers: [fetch][buffer], one mapping.</summary>
    private SafeMmapHandle? _fetchMemory;

    /// <summary>Bytes per fetch buffer: every tag twice over, in whole pages.</summary>
    private int _fetchBufferBytes;

    /// <summary>Per fetch, its provided-buffer ring (group id = the fetch).</summary>
    private readonly ProvidedBufferRing?[] _fetchRings = new ProvidedBufferRing?[Fetches];

    /// <summary>Per fetch buffer: bytes of tags already read from it.</summary>
    private readonly int[] _fetchConsumed = new int[Fetches * FetchBuffersPerGroup];

    /// <summary>Fetches armed (or re-armed) and not ended for good; the queue is done when none is and nothing is left to commit.</summary>
    private int _fetchesArmed;

    private UblkBatchFlags BatchFlags => _options.ZeroCopy ? UblkBatchFlags.None : UblkBatchFlags.HasBufAddr;

    private byte* ElementArray(int index) => _batchElements!.Pointer + ((nint)index * _options.Depth * _elementBytes);

    private byte* FetchBuffer(int fetch, int buffer) => _fetchMemory!.Pointer + ((nint)((fetch * FetchBuffersPerGroup) + buffer) * _fetchBufferBytes);

    /// <summary>
    /// Allocates the element and tag buffers and registers the fetches' buffer rings; on the queue
    /// thread, before it arms. Freed by <see cref="DisposeBatch"/> after the ring is closed.
    /// </summary>
    private void SetUpBatch(IoUring ring)
    {
        int depth = _options.Depth;
        int page = Environment.SystemPageSize;
        _elementBytes = ublk_elem_header.Size + (_options.ZeroCopy ? 0 : sizeof(ulong));
        _batchElements = SafeMmapHandle.MapAnonymous((nuint)((1 + CommitBuffers) * depth * _elementBytes), $"ublk queue {QueueId} batch elements");
        _fetchBufferBytes = (int)UblkLimits.RoundUp(depth * 2L * sizeof(ushort), page);
        _fetchMemory = SafeMmapHandle.MapAnonymous((nuint)(Fetches * FetchBuffersPerGroup * _fetchBufferBytes), $"ublk queue {QueueId} fetched tags");
        for (int f = 0; f < Fetches; f++)
        {
            _fetchRings[f] = new ProvidedBufferRing(ring, (ushort)f, FetchBuffersPerGroup, IoUringRegister.PbufRingInc);
            for (int b = 0; b < FetchBuffersPerGroup; b++)
            {
                _fetchRings[f]!.Provide((nint)FetchBuffer(f, b), (uint)_fetchBufferBytes, (ushort)b);
            }
        }
    }

    /// <summary>Frees what <see cref="SetUpBatch"/> made; after the ring is closed (the kernel may use it until then).</summary>
    private void DisposeBatch()
    {
        foreach (ProvidedBufferRing? r in _fetchRings)
        {
            r?.Dispose();
        }

        _fetchMemory?.Dispose();
        _batchElements?.Dispose();
    }

    /// <summary>PREP_IO_CMDS for every tag, then the two fetches. Queue thread.</summary>
    private void ArmBatch(IoUring ring)
    {
        int depth = _options.Depth;
        byte* elements = ElementArray(0);
        for (int tag = 0; tag < depth; tag++)
        {
            WriteElement(elements, tag, tag, 0);
        }

        UblkSqe.Batch(NextSqe(ring), _charDeviceFd, UblkCommand.PrepIoCmds, (ushort)QueueId, BatchFlags, (ushort)depth, (byte)_elementBytes, (ulong)elements, BatchPrepUserData);
        for (int f = 0; f < Fetches; f++)
        {
            ArmFetch(ring, f);
        }
    }

    private void ArmFetch(IoUring ring, int fetch)
    {
        UblkSqe.Fetch(NextSqe(ring), _charDeviceFd, (ushort)QueueId, (ushort)fetch, (ushort)(_fetchBufferBytes / sizeof(ushort)), BatchFetchUserData + (ulong)fetch);
        _fetchesArmed++;
    }

    /// <summary>Element <paramref name="index"/>: the tag, its ring slot for zero copy (the tag), its result, and with copies its buffer.</summary>
    private void WriteElement(byte* elements, int index, int tag, int result)
    {
        byte* e = elements + ((nint)index * _elementBytes);
        var header = (ublk_elem_header*)e;
        header->tag = (ushort)tag;
        header->buf_index = _options.ZeroCopy ? (ushort)tag : (ushort)0;
        header->result = result;
        if (!_options.ZeroCopy)
        {
            *(ulong*)(e + ublk_elem_header.Size) = (ulong)BufferOf(tag);
        }
    }

    /// <summary>
    /// One COMMIT_IO_CMDS for the popped completion stack <paramref name="tag"/> and whatever
    /// waited from earlier rounds. Queue thread.
    /// </summary>
    private void CommitBatch(IoUring ring, int tag)
    {
        if (_commitDeferred >= 0)
        {
            // Older tags first is not needed for correctness; linking the short deferred list
            // behind the new one keeps this O(deferred).
            int last = _commitDeferred;
            while (_completedNext[last] >= 0)
            {
                last = _completedNext[last];
            }

            _completedNext[last] = tag;
            tag = _commitDeferred;
            _commitDeferred = -1;
        }

        if (tag < 0)
        {
            return;
        }

        int free = ~_commitsInFlight & ((1 << CommitBuffers) - 1);
        if (free == 0)
        {
            _commitDeferred = tag;
            return;
        }

        int buffer = System.Numerics.BitOperations.TrailingZeroCount(free);
        byte* elements = ElementArray(1 + buffer);
        int count = 0;
        while (tag >= 0)
        {
            int next = _completedNext[tag];
            Account(tag, _results[tag]);
            WriteElement(elements, count++, tag, _results[tag]);
            tag = next;
        }

        Debug.Assert(count <= _options.Depth, "a tag was completed twice");
        _commitsInFlight |= 1 << buffer;
        _commitCounts[buffer] = count;
        UblkSqe.Batch(NextSqe(ring), _charDeviceFd, UblkCommand.CommitIoCmds, (ushort)QueueId, BatchFlags, (ushort)count, (byte)_elementBytes, (ulong)elements, BatchCommitUserData + (ulong)buffer);
    }

    /// <summary>True for the batch commands' CQEs, which it handles. Queue thread.</summary>
    private bool TryBatchCompleted(IoUring ring, in io_uring_cqe cqe)
    {
        if (cqe.user_data >= BatchPrepUserData)
        {
            if (cqe.res < 0)
            {
                // Nothing armed: START_DEV would wait forever, so fail the queue now.
                throw ErrnoException.FromErrno(ErrnoExtensions.ErrnoOf(cqe.res), "ublk PREP_IO_CMDS", $"/dev/ublkc{_options.DeviceId}", $"queue {QueueId}");
            }

            return true;
        }

        if (cqe.user_data >= BatchCommitUserData)
        {
            int buffer = (int)(cqe.user_data - BatchCommitUserData);
            _commitsInFlight &= ~(1 << buffer);
            int expected = _commitCounts[buffer] * _elementBytes;
            if (cqe.res != expected)
            {
                // The kernel stops at the first element it refuses (a tag the device already
                // aborted, as when it stops): the rest are not committed, and with the device
                // going away there is nothing to retry them for.
                LogBatchCommitShort(_logger, QueueId, Math.Max(cqe.res, 0) / _elementBytes, _commitCounts[buffer], cqe.res < 0 ? ErrnoExtensions.ErrnoOf(cqe.res).Describe() : "refused an element");
            }

            return true;
        }

        if (cqe.user_data >= BatchFetchUserData)
        {
            FetchCompleted(ring, (int)(cqe.user_data - BatchFetchUserData), cqe);
            return true;
        }

        return false;
    }

    /// <summary>A fetch's CQE: hands its tags to the engine, gives back a used-up buffer, re-arms an ended fetch. Queue thread.</summary>
    private void FetchCompleted(IoUring ring, int fetch, in io_uring_cqe cqe)
    {
        if (cqe.res > 0 && (cqe.flags & IoCqeFlags.Buffer) != 0)
        {
            int buffer = (int)(cqe.flags >> 16);
            int slot = (fetch * FetchBuffersPerGroup) + buffer;
            var tags = (ushort*)(FetchBuffer(fetch, buffer) + _fetchConsumed[slot]);
            int count = cqe.res / sizeof(ushort);
            for (int i = 0; i < count; i++)
            {
                int tag = tags[i];
                if (tag < _options.Depth)
                {
                    Dispatch(tag);
                }
                else if (tag != UblkLimits.BatchUnusedTag)
                {
                    LogTagFailed(_logger, QueueId, tag, "FETCH_IO_CMDS returned a tag beyond the queue depth");
                }
            }

            _fetchConsumed[slot] += cqe.res;
            if ((cqe.flags & IoCqeFlags.BufMore) == 0)
            {
                // The kernel is done with this buffer: back into the ring, from its start.
                _fetchConsumed[slot] = 0;
                _fetchRings[fetch]!.Provide((nint)FetchBuffer(fetch, buffer), (uint)_fetchBufferBytes, (ushort)buffer);
            }
        }

        if ((cqe.flags & IoCqeFlags.More) != 0)
        {
            return;
        }

        _fetchesArmed--;
        if (cqe.res >= 0 || cqe.res == Errno.ENOBUFS.ToResult())
        {
            // Ended without failing (no buffer at hand, or a CQE it could not post): arm it again.
            ArmFetch(ring, fetch);
        }
        else if (cqe.res != UblkLimits.IoResAbort && cqe.res != Errno.ECANCELED.ToResult())
        {
            LogFetchEnded(_logger, QueueId, fetch, ErrnoExtensions.ErrnoOf(cqe.res).Describe());
        }
    }

    /// <summary>True while batch work is left that a later round finishes: tags waiting for a commit buffer.</summary>
    private bool BatchHasPending => _commitDeferred >= 0;

    [LoggerMessage(Level = LogLevel.Warning, Message = "ublk queue {QueueId}: FETCH_IO_CMDS {Fetch} ended: {Error}; the queue gets no new requests from it")]
    private static partial void LogFetchEnded(ILogger logger, int queueId, int fetch, string error);

    [LoggerMessage(Level = LogLevel.Warning, Message = "ublk queue {QueueId}: COMMIT_IO_CMDS took {Taken} of {Count} completions ({Why})")]
    private static partial void LogBatchCommitShort(ILogger logger, int queueId, int taken, int count, string why);
}
