using System.Runtime.InteropServices;
using LoopOrder.Queues.Ordering;
using LoopOrder.Queues.Requests;
using LoopOrder.Verification;

namespace LoopOrder.Verification.Tests;

/// <summary>Writes a trace by hand, event by event, as the Sequencer and a recording backend would, to aim the checker at one case.</summary>
internal sealed unsafe class TraceBuilder : IRequestCompletion, IDisposable
{
    public const ulong Seed = 7;
    public const ulong Capacity = 64;

    private readonly List<BlockRequest> _requests = [];
    private readonly List<nint> _buffers = [];

    public TraceRecorder Recorder { get; } = new(Seed);

    /// <summary>Receives a request; writes carry headers for <paramref name="writeId"/>. Returns its sequence number.</summary>
    public long Recv(BlockOp op, ulong start = 0, uint count = 0, ulong writeId = 0, RequestFlags flags = RequestFlags.None, int queue = 0)
    {
        int bytes = op is BlockOp.Read or BlockOp.Write ? (int)count * BlockRequest.SectorSize : 0;
        nint buffer = bytes > 0 ? (nint)NativeMemory.AllocZeroed((nuint)bytes) : 0;
        if (buffer != 0)
        {
            _buffers.Add(buffer);
        }

        if (op == BlockOp.Write && count > 0)
        {
            SectorHeader.FillRange(new Span<byte>((void*)buffer, bytes), Seed, writeId, start, (int)count);
        }

        var r = new BlockRequest(queue, _requests.Count, this);
        r.Prepare(op, flags, start, count, RequestBuffer.Memory(buffer, bytes));
        _requests.Add(r);
        long seq = _requests.Count;
        r.Seq = seq;
        Recorder.Received(r, seq);
        return seq;
    }

    public long Write(ulong start, uint count, ulong writeId, RequestFlags flags = RequestFlags.None) =>
        Recv(BlockOp.Write, start, count, writeId, flags);

    public long Flush() => Recv(BlockOp.Flush);

    public void Start(long seq) => Recorder.BackendStarted(_requests[(int)seq - 1]);

    /// <summary>Starts as if the engine handed the backend other flags (for example dropped FUA).</summary>
    public void StartWithFlags(long seq, RequestFlags flags)
    {
        BlockRequest r = _requests[(int)seq - 1];
        r.Prepare(r.Op, flags, r.StartSector, r.SectorCount, r.Buffer);
        r.Seq = seq;
        Recorder.BackendStarted(r);
    }

    public void End(long seq, int result = 0)
    {
        BlockRequest r = _requests[(int)seq - 1];
        Recorder.BackendEnded(r, result == 0 && r.Op is BlockOp.Read or BlockOp.Write ? r.ByteCount : result);
    }

    public void Ack(long seq, int result = 0)
    {
        BlockRequest r = _requests[(int)seq - 1];
        Recorder.Acknowledged(r, seq, result == 0 && r.Op is BlockOp.Read or BlockOp.Write ? r.ByteCount : result);
    }

    /// <summary>Start, end and acknowledge at once: the ordinary life of a request.</summary>
    public void Run(long seq)
    {
        Start(seq);
        End(seq);
        Ack(seq);
    }

    /// <summary>Fills a read's buffer as if the backend read these write ids (0 for zeros), then ends it.</summary>
    public void EndRead(long seq, params ulong[] writeIds)
    {
        BlockRequest r = _requests[(int)seq - 1];
        var data = new Span<byte>((void*)r.Buffer.Address, r.ByteCount);
        data.Clear();
        for (int i = 0; i < writeIds.Length; i++)
        {
            if (writeIds[i] != 0)
            {
                SectorHeader.Fill(data.Slice(i * BlockRequest.SectorSize, BlockRequest.SectorSize), Seed, writeIds[i], r.StartSector + (ulong)i);
            }
        }

        End(seq);
    }

    public Span<byte> Buffer(long seq)
    {
        BlockRequest r = _requests[(int)seq - 1];
        return new Span<byte>((void*)r.Buffer.Address, r.Buffer.Length);
    }

    public IReadOnlyList<Violation> Check(OrderingMode mode = OrderingMode.Drain) => InvariantChecker.Check(Recorder, mode, Capacity);

    public PowerCutModel Model(OrderingMode mode = OrderingMode.Drain) => PowerCutModel.Build(Recorder, mode, Capacity);

    public void Complete(BlockRequest request, int result)
    {
    }

    public void Dispose()
    {
        foreach (nint b in _buffers)
        {
            NativeMemory.Free((void*)b);
        }
    }
}
