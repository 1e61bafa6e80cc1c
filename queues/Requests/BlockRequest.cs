using System.Diagnostics;
using LoopOrder.Interop;

namespace LoopOrder.Queues.Requests;

/// <summary>
/// One block request: what to do, where, with which buffer, and where its completion goes.
/// Instances are preallocated (the transport keeps one per queue tag) and reused through
/// <see cref="Prepare"/>, so the I/O path allocates nothing. While the engine owns a request
/// (from submission to completion) nobody else may touch it.
/// </summary>
public sealed class BlockRequest
{
    /// <summary>Bytes in a sector: the kernel describes every request in 512-byte sectors whatever the block size.</summary>
    public const int SectorSize = 512;

    /// <summary>log2 of <see cref="SectorSize"/>.</summary>
    public const int SectorShift = 9;

    /// <summary>Creates a request slot for a queue and tag.</summary>
    /// <param name="queueId">The hardware queue that receives this request.</param>
    /// <param name="tag">The tag within that queue.</param>
    /// <param name="completion">Where acknowledgements go.</param>
    public BlockRequest(int queueId, int tag, IRequestCompletion completion)
    {
        ArgumentNullException.ThrowIfNull(completion);
        QueueId = queueId;
        Tag = tag;
        Completion = completion;
    }

    /// <summary>The hardware queue that received the request.</summary>
    public int QueueId { get; }

    /// <summary>The request's tag within its queue.</summary>
    public int Tag { get; }

    /// <summary>Where the acknowledgement goes.</summary>
    public IRequestCompletion Completion { get; }

    /// <summary>
    /// The socket (NUMA node index in the dispatcher's topology) whose workers run this
    /// request's backend I/O: the node of the CPUs its queue runs on. Default 0.
    /// </summary>
    public int Node { get; set; }

    /// <summary>The operation.</summary>
    public BlockOp Op { get; private set; }

    /// <summary>FUA and NOUNMAP.</summary>
    public RequestFlags Flags { get; private set; }

    /// <summary>First sector (512 bytes each).</summary>
    public ulong StartSector { get; private set; }

    /// <summary>Number of sectors; 0 for a flush.</summary>
    public uint SectorCount { get; private set; }

    /// <summary>
    /// Where the data is: memory read into for reads and written from for writes, pages only the
    /// transport's ring reaches (zero copy), or none (ops without data).
    /// </summary>
    public RequestBuffer Buffer { get; private set; }

    /// <summary>Byte offset of the request in the device.</summary>
    public long ByteOffset => (long)(StartSector << SectorShift);

    /// <summary>Bytes the request covers.</summary>
    public int ByteCount => (int)(SectorCount << SectorShift);

    /// <summary>True for the ops that change sectors: write, discard and write-zeroes.</summary>
    public bool IsWriteClass => Op is BlockOp.Write or BlockOp.Discard or BlockOp.WriteZeroes;

    /// <summary>A write without FUA: on a buffered file, a copy into the page cache that finishes inside the call.</summary>
    internal bool IsPlainWrite => Op == BlockOp.Write && (Flags & RequestFlags.Fua) == 0;

    /// <summary>Fills the slot for a new request. The previous request on this slot must be complete.</summary>
    /// <param name="op">The operation (unknown values are carried, and failed by the engine).</param>
    /// <param name="flags">FUA / NOUNMAP.</param>
    /// <param name="startSector">First sector.</param>
    /// <param name="sectorCount">Sector count.</param>
    /// <param name="buffer">The data buffer, or <see cref="RequestBuffer.None"/> for ops without data.</param>
    public void Prepare(BlockOp op, RequestFlags flags, ulong startSector, uint sectorCount, RequestBuffer buffer)
    {
        Debug.Assert(State is RequestState.Idle or RequestState.Done, $"slot {QueueId}/{Tag} reused while {State}");
        Op = op;
        Flags = flags;
        StartSector = startSector;
        SectorCount = sectorCount;
        Buffer = buffer;
        State = RequestState.Idle;
        Seq = 0;
        Blockers = 0;
        Held = false;
        Barrier = false;
        AckedEarly = false;
        Progress = 0;
        ReceivedTicks = 0;
        ReadyTicks = 0;
        SyncStartTicks = 0;
        SyncEndTicks = 0;
        SyncResult = 0;
    }

    /// <summary>
    /// The request's own validity against a device of <paramref name="capacitySectors"/>
    /// sectors, whatever it is later checked for. 0 when it is an op the engine serves, lying
    /// wholly inside the device, with a non-zero length, on whole logical blocks, and (reads,
    /// writes) with a buffer that holds it. Else an errno the kernel passes on to the block layer:
    /// -EOPNOTSUPP for an op the engine does not serve (WRITE_SAME, zone ops, undefined codes: the
    /// block layer's own BLK_STS_NOTSUPP, as for any op a device lacks), -EINVAL for a served op
    /// whose geometry is malformed (the kernel never sends one; it would be a bug on either side,
    /// and no byte of the file is touched for it). The Sequencer answers with it before ordering;
    /// a backend may ask again, since it can be driven without a Sequencer.
    /// </summary>
    /// <param name="capacitySectors">Device size in 512-byte sectors.</param>
    /// <param name="blockSectors">
    /// The logical block size in sectors (1 for 512, 8 for 4096; a power of two): a device with
    /// 4096-byte blocks only ever gets requests on whole blocks, so anything else is malformed.
    /// </param>
    public int CheckBounds(ulong capacitySectors, uint blockSectors = 1)
    {
        Debug.Assert(blockSectors != 0 && (blockSectors & (blockSectors - 1)) == 0, "block size is not a power of two");
        switch (Op)
        {
            case BlockOp.Flush:
                return 0;
            case BlockOp.Read:
            case BlockOp.Write:
                // In long arithmetic: a count near 2^32 sectors must not wrap past the buffer check.
                if (Buffer.Kind == RequestBufferKind.None || (long)SectorCount << SectorShift > Buffer.Length)
                {
                    return Errno.EINVAL.ToResult();
                }

                break;
            case BlockOp.Discard:
            case BlockOp.WriteZeroes:
                break;
            default:
                return Errno.EOPNOTSUPP.ToResult();
        }

        return SectorCount == 0
            || ((StartSector | SectorCount) & (blockSectors - 1)) != 0
            || StartSector >= capacitySectors
            || capacitySectors - StartSector < SectorCount ? Errno.EINVAL.ToResult() : 0;
    }

    /// <summary>True when the two requests share at least one sector.</summary>
    internal bool Overlaps(BlockRequest other) =>
        StartSector < other.StartSector + other.SectorCount && other.StartSector < StartSector + SectorCount;

    /// <inheritdoc />
    public override string ToString() =>
        $"#{Seq} q{QueueId}/t{Tag} {Op}{(Flags.HasFlag(RequestFlags.Fua) ? "+FUA" : "")} [{StartSector}+{SectorCount}]";

    // ---- engine state: owned by the Sequencer, read and written only under its lock ----

    /// <summary>Receive order across the whole device (1, 2, ...); 0 before submission. Public to read: a recorder names requests by it.</summary>
    public long Seq { get; internal set; }

    /// <summary>Where the request is in its life.</summary>
    internal RequestState State { get; set; }

    /// <summary>Earlier unlanded writes that overlap this request: it may not start while any remain.</summary>
    internal int Blockers { get; set; }

    /// <summary>Strict mode: a write received after a flush that is not yet acknowledged.</summary>
    internal bool Held { get; set; }

    /// <summary>A flush placed as a snapshot barrier (Sequencer.PlaceBarrier): it drains and syncs as in drain mode whatever the device's mode.</summary>
    internal bool Barrier { get; set; }

    /// <summary>Set by the ack-before-land mutant only: the acknowledgement already went out.</summary>
    internal bool AckedEarly { get; set; }

    /// <summary>Stopwatch ticks at submission, for flush wait statistics.</summary>
    internal long ReceivedTicks { get; set; }

    /// <summary>Flushes: Stopwatch ticks when every write received before it had landed (0 until then), for statistics.</summary>
    internal long ReadyTicks { get; set; }

    /// <summary>Flushes that carry a sync: Stopwatch ticks when it started, for statistics.</summary>
    internal long SyncStartTicks { get; set; }

    /// <summary>Flushes that carry a sync: Stopwatch ticks when it ended, for statistics.</summary>
    internal long SyncEndTicks { get; set; }

    /// <summary>Flushes that carry a sync: what their group is acknowledged with (0, or -EIO once any sync failed).</summary>
    internal int SyncResult { get; set; }

    /// <summary>Links in the one engine list the request is on by <see cref="Prev"/>/<see cref="Next"/> (unlanded writes, or pending/syncing flushes).</summary>
    internal BlockRequest? Prev { get; set; }

    /// <summary>See <see cref="Prev"/>.</summary>
    internal BlockRequest? Next { get; set; }

    /// <summary>Links in the waiting list (requests that may not start yet).</summary>
    internal BlockRequest? WaitPrev { get; set; }

    /// <summary>See <see cref="WaitPrev"/>.</summary>
    internal BlockRequest? WaitNext { get; set; }

    /// <summary>Next request held by a change tracker for the same metadata commit (see Tracking/ChangeTracker).</summary>
    internal BlockRequest? TrackNext { get; set; }

    /// <summary>Next request held by a copy-on-write gate for the same copy round (see Snapshots/CopyOnWrite).</summary>
    internal BlockRequest? CopyNext { get; set; }

    /// <summary>Link in a short-lived chain built under the lock and walked after it (ready or done requests).</summary>
    internal BlockRequest? ChainNext { get; set; }

    /// <summary>Result carried on the done chain.</summary>
    internal int ChainResult { get; set; }

    // ---- backend state: owned by the executor running the request ----

    /// <summary>Bytes already transferred, so a short transfer resumes where it stopped.</summary>
    public int Progress { get; set; }
}
