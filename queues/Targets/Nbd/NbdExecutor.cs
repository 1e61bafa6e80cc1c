using LoopOrder.Interop;
using LoopOrder.Queues.Backends;
using LoopOrder.Queues.Requests;

namespace LoopOrder.Queues.Targets.Nbd;

/// <summary>
/// Runs an <see cref="NbdBackend"/>'s requests for one worker thread: <see cref="Start"/> sends
/// each on the next live connection (a flush goes to the set, which picks its connections); the
/// replies arrive on the connections' reader threads, which only queue them here, and
/// <see cref="Poll"/> reports them on the owner thread. Why not report from the reader: a report
/// may release further requests, and a reader must never send (<see cref="INbdCompletion"/>).
/// </summary>
/// <remarks>
/// Operations: a read or write is NBD_CMD_READ/WRITE (FUA as NBD_CMD_FLAG_FUA, or the write and a
/// flush of its connection on a server without FUA); a discard is NBD_CMD_WRITE_ZEROES without
/// NO_HOLE (it may punch, and reads back as zeros, which a bare NBD_CMD_TRIM does not promise),
/// or NBD_CMD_TRIM when the server has no write-zeroes; a write-zeroes is NBD_CMD_WRITE_ZEROES,
/// with NO_HOLE when NOUNMAP is set. A flush on a server without FLUSH completes at once: the
/// target serves such a server only with --ordering none, which promises nothing about it.
/// </remarks>
internal sealed class NbdExecutor : IBackendExecutor, INbdCompletion
{
    private readonly NbdBackend _backend;
    private readonly IBackendCompletion _completion;

    /// <summary>Finished on another thread, not yet reported.</summary>
    private readonly CompletionMailbox<(BlockRequest Request, int Result)> _done = new();

    internal NbdExecutor(NbdBackend backend, IBackendCompletion completion)
    {
        _backend = backend;
        _completion = completion;
    }

    /// <inheritdoc />
    public void Start(BlockRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        if (_backend.FailedClosed)
        {
            Completed(request, Errno.EIO.ToResult());
            return;
        }

        NbdExportInfo export = _backend.Export;
        NbdCommandFlags fua = (request.Flags & RequestFlags.Fua) != 0 ? NbdCommandFlags.Fua : NbdCommandFlags.None;
        NbdCommand command;
        NbdCommandFlags flags = NbdCommandFlags.None;
        switch (request.Op)
        {
            case BlockOp.Read:
                command = NbdCommand.Read;
                break;
            case BlockOp.Write:
                command = NbdCommand.Write;
                flags = fua;
                break;
            case BlockOp.Discard when export.CanWriteZeroes:
                command = NbdCommand.WriteZeroes;
                flags = fua;
                break;
            case BlockOp.Discard when export.CanTrim:
                command = NbdCommand.Trim;
                flags = fua;
                break;
            case BlockOp.WriteZeroes when export.CanWriteZeroes:
                command = NbdCommand.WriteZeroes;
                flags = fua | ((request.Flags & RequestFlags.NoUnmap) != 0 ? NbdCommandFlags.NoHole : NbdCommandFlags.None);
                break;
            case BlockOp.Flush:
                if (_backend.FlushLatched)
                {
                    Completed(request, Errno.EIO.ToResult());
                }
                else if (!export.CanFlush)
                {
                    Completed(request, 0);
                }
                else
                {
                    _backend.Set.Flush(this, request);
                }

                return;
            default:
                Completed(request, Errno.EOPNOTSUPP.ToResult());
                return;
        }

        _backend.Set.Submit(-1, command, flags, request.ByteOffset, request.ByteCount, request.Buffer.Address, this, request);
    }

    /// <summary>A command finished (any thread): latch what a flush can no longer cover, then queue the report.</summary>
    public void Completed(object? state, int result)
    {
        var request = (BlockRequest)state!;
        if (result < 0 && (request.Op == BlockOp.Flush || (request.IsWriteClass && (request.Flags & RequestFlags.Fua) != 0)))
        {
            _backend.LatchFlush();
        }

        _done.Post((request, result));
    }

    /// <inheritdoc />
    public void Poll(bool block)
    {
        // Each report outside the mailbox's lock: it may start more requests on this thread.
        while (_done.TryTake(ref block, out (BlockRequest Request, int Result) d))
        {
            _completion.Landed(d.Request, d.Result);
        }
    }

    /// <inheritdoc />
    public void Wake() => _done.Wake();

    /// <inheritdoc />
    public void Dispose()
    {
    }
}
