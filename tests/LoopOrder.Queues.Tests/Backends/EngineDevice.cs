using LoopOrder.Queues.Backends;
using LoopOrder.Queues.Dispatch;
using LoopOrder.Queues.Engine;
using LoopOrder.Queues.Ordering;
using LoopOrder.Queues.Requests;
using LoopOrder.Queues.Tests.Dispatch;
using LoopOrder.Queues.Tests.Nbd;

namespace LoopOrder.Queues.Tests.Backends;

/// <summary>
/// A backend served through the whole engine (Sequencer, socket worker, the backend's executors)
/// as a ublk queue would drive it but without the kernel: one request at a time, or several
/// started together. The remote targets' tests (NBD, RBD) share it.
/// </summary>
/// <typeparam name="TBackend">The backend, which the device owns.</typeparam>
internal class EngineDevice<TBackend> : IDisposable
    where TBackend : IBackend
{
    private readonly NbdBuffers _buffers = new();
    private readonly TimeSpan _deadline;

    protected EngineDevice(TBackend backend, OrderingMode mode, TimeSpan deadline)
    {
        _deadline = deadline;
        Backend = backend;
        Engine = BlockEngine.Create(Backend, new EngineOptions { Mode = mode, Topology = NumaTopology.FromNodes([0]), PinWorkers = false });
    }

    public TBackend Backend { get; }

    public BlockEngine Engine { get; }

    public int Write(long offset, byte[] data, RequestFlags flags = RequestFlags.None) => Wait(StartWrite(offset, data, flags));

    /// <summary>Submits a write and returns at once; <see cref="Wait"/> gets its result.</summary>
    public unsafe (BlockRequest Request, CountingCompletion Done) StartWrite(long offset, byte[] data, RequestFlags flags = RequestFlags.None, int tag = 0)
    {
        nint buffer = _buffers.Allocate(data.Length);
        data.CopyTo(new Span<byte>((void*)buffer, data.Length));
        return Start(BlockOp.Write, flags, offset, data.Length, buffer, tag);
    }

    public int Flush() => Wait(StartFlush(0));

    public (BlockRequest Request, CountingCompletion Done) StartFlush(int tag) => Start(BlockOp.Flush, RequestFlags.None, 0, 0, 0, tag);

    public int Op(BlockOp op, long offset, int length, RequestFlags flags = RequestFlags.None) => Wait(Start(op, flags, offset, length, 0, 0));

    public unsafe (int Result, byte[] Bytes) TryRead(long offset, int length)
    {
        nint buffer = _buffers.Allocate(length);
        int result = Wait(Start(BlockOp.Read, RequestFlags.None, offset, length, buffer, 0));
        return (result, new Span<byte>((void*)buffer, length).ToArray());
    }

    public byte[] Read(long offset, int length)
    {
        (int result, byte[] bytes) = TryRead(offset, length);
        Assert.Equal(length, result);
        return bytes;
    }

    public int Wait((BlockRequest Request, CountingCompletion Done) started)
    {
        Assert.True(started.Done.Reached.Wait(_deadline), $"{started.Request} did not complete");
        return started.Done.Results[started.Request];
    }

    public void Dispose()
    {
        Assert.True(Engine.Shutdown(_deadline));
        Backend.Dispose();
        _buffers.Dispose();
        GC.SuppressFinalize(this);
    }

    private (BlockRequest, CountingCompletion) Start(BlockOp op, RequestFlags flags, long offset, int length, nint buffer, int tag)
    {
        var done = new CountingCompletion { Target = 1 };
        var r = new BlockRequest(0, tag, done);
        r.Prepare(op, flags, (ulong)offset / BlockRequest.SectorSize, (uint)(length / BlockRequest.SectorSize), RequestBuffer.Memory(buffer, length));
        Engine.Submit(r);
        return (r, done);
    }
}
