using System.Runtime.InteropServices;
using LoopOrder.Queues.Dispatch;
using LoopOrder.Queues.Ordering;
using LoopOrder.Queues.Requests;
using LoopOrder.Verification.Backends;

namespace LoopOrder.Queues.Tests.Ordering;

/// <summary>
/// A Sequencer over a <see cref="ControlledBackend"/> on one thread: every backend operation
/// waits until the test completes it, so each interleaving is spelled out in the test.
/// </summary>
internal sealed unsafe class SequencerHarness : IRequestCompletion, IDisposable
{
    public const long DeviceBytes = 1 << 20;

    private readonly List<nint> _buffers = [];
    private int _nextTag;

    public SequencerHarness(OrderingMode mode, bool readOnly = false, int logicalBlockSize = 512)
    {
        Backend = new ControlledBackend(DeviceBytes);
        Sequencer = new Sequencer(mode, DeviceBytes, c => new InlineDispatcher(Backend, c), readOnly, logicalBlockSize: logicalBlockSize);
    }

    public ControlledBackend Backend { get; }

    public Sequencer Sequencer { get; }

    /// <summary>Acknowledgements in the order they were delivered.</summary>
    public List<(BlockRequest Request, int Result)> Acks { get; } = [];

    public void Complete(BlockRequest request, int result) => Acks.Add((request, result));

    public int? ResultOf(BlockRequest r)
    {
        foreach ((BlockRequest req, int result) in Acks)
        {
            if (req == r)
            {
                return result;
            }
        }

        return null;
    }

    public bool IsAcked(BlockRequest r) => ResultOf(r) is not null;

    public BlockRequest Write(int queue, ulong start, uint count, byte fill, RequestFlags flags = RequestFlags.None)
    {
        BlockRequest r = Make(queue, BlockOp.Write, flags, start, count);
        new Span<byte>((void*)r.Buffer.Address, r.Buffer.Length).Fill(fill);
        Sequencer.Submit(r);
        return r;
    }

    public BlockRequest Read(int queue, ulong start, uint count)
    {
        BlockRequest r = Make(queue, BlockOp.Read, RequestFlags.None, start, count);
        new Span<byte>((void*)r.Buffer.Address, r.Buffer.Length).Fill(0xEE);
        Sequencer.Submit(r);
        return r;
    }

    public BlockRequest Flush(int queue) => Submit(queue, BlockOp.Flush, 0, 0);

    /// <summary>Places a snapshot barrier (a flush of its own, as BlockEngine.Snapshot makes).</summary>
    public BlockRequest Barrier()
    {
        BlockRequest r = Make(-1, BlockOp.Flush, RequestFlags.None, 0, 0);
        Sequencer.PlaceBarrier(r);
        return r;
    }

    public BlockRequest Submit(int queue, BlockOp op, ulong start, uint count, RequestFlags flags = RequestFlags.None)
    {
        BlockRequest r = Make(queue, op, flags, start, count);
        Sequencer.Submit(r);
        return r;
    }

    public static ReadOnlySpan<byte> Data(BlockRequest r) => new((void*)r.Buffer.Address, r.ByteCount);

    /// <summary>The sync the backend is running for a flush, if any (the carrier of the current group).</summary>
    public BlockRequest? PendingSync => Backend.Pending.FirstOrDefault(p => p.Op == BlockOp.Flush);

    private BlockRequest Make(int queue, BlockOp op, RequestFlags flags, ulong start, uint count)
    {
        int bytes = Math.Max(1, (int)count) * BlockRequest.SectorSize;
        nint buffer = (nint)NativeMemory.AlignedAlloc((nuint)bytes, 4096);
        _buffers.Add(buffer);
        var r = new BlockRequest(queue, _nextTag++, this);
        r.Prepare(op, flags, start, count, op is BlockOp.Read or BlockOp.Write ? RequestBuffer.Memory(buffer, bytes) : RequestBuffer.None);
        return r;
    }

    public void Dispose()
    {
        Sequencer.Dispose();
        Backend.Dispose();
        foreach (nint b in _buffers)
        {
            NativeMemory.AlignedFree((void*)b);
        }
    }
}
