using LoopOrder.Queues.Dispatch;
using LoopOrder.Queues.Engine;
using LoopOrder.Queues.Ordering;
using LoopOrder.Queues.Requests;
using LoopOrder.Queues.Targets.Nbd;
using LoopOrder.Queues.Tests.Dispatch;

namespace LoopOrder.Queues.Tests.Nbd;

/// <summary>
/// An NBD export served through the whole engine (Sequencer, socket worker, <see cref="NbdBackend"/>),
/// as a ublk queue would drive it but without the kernel: one request at a time, or several
/// started together.
/// </summary>
internal sealed unsafe class NbdDevice : IDisposable
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(60);
    private readonly NbdBuffers _buffers = new();

    public NbdDevice(NbdBackendOptions options, OrderingMode mode = OrderingMode.Drain)
    {
        Backend = NbdBackend.Open(options);
        Engine = BlockEngine.Create(Backend, new EngineOptions { Mode = mode, Topology = NumaTopology.FromNodes([0]), PinWorkers = false });
    }

    public NbdBackend Backend { get; }

    public BlockEngine Engine { get; }

    public static byte[] Pattern(int seed, int length)
    {
        byte[] b = new byte[length];
        for (int i = 0; i < length; i++)
        {
            b[i] = (byte)((i * 131) + (seed * 17) + 3);
        }

        return b;
    }

    public int Write(long offset, byte[] data, RequestFlags flags = RequestFlags.None) => Wait(StartWrite(offset, data, flags));

    /// <summary>Submits a write and returns at once; <see cref="Wait"/> gets its result.</summary>
    public (BlockRequest Request, CountingCompletion Done) StartWrite(long offset, byte[] data, RequestFlags flags = RequestFlags.None)
    {
        nint buffer = _buffers.Allocate(data.Length);
        data.CopyTo(new Span<byte>((void*)buffer, data.Length));
        return Start(BlockOp.Write, flags, offset, data.Length, buffer);
    }

    public int Flush() => Wait(Start(BlockOp.Flush, RequestFlags.None, 0, 0, 0));

    public int Op(BlockOp op, long offset, int length, RequestFlags flags = RequestFlags.None) => Wait(Start(op, flags, offset, length, 0));

    public (int Result, byte[] Bytes) TryRead(long offset, int length)
    {
        nint buffer = _buffers.Allocate(length);
        int result = Wait(Start(BlockOp.Read, RequestFlags.None, offset, length, buffer));
        return (result, new Span<byte>((void*)buffer, length).ToArray());
    }

    public byte[] Read(long offset, int length)
    {
        (int result, byte[] bytes) = TryRead(offset, length);
        Assert.Equal(length, result);
        return bytes;
    }

    public static int Wait((BlockRequest Request, CountingCompletion Done) started)
    {
        Assert.True(started.Done.Reached.Wait(Deadline), $"{started.Request} did not complete");
        return started.Done.Results[started.Request];
    }

    public void Dispose()
    {
        Assert.True(Engine.Shutdown(Deadline));
        Backend.Dispose();
        _buffers.Dispose();
    }

    private (BlockRequest, CountingCompletion) Start(BlockOp op, RequestFlags flags, long offset, int length, nint buffer)
    {
        var done = new CountingCompletion { Target = 1 };
        var r = new BlockRequest(0, 0, done);
        r.Prepare(op, flags, (ulong)offset / BlockRequest.SectorSize, (uint)(length / BlockRequest.SectorSize), buffer, length);
        Engine.Submit(r);
        return (r, done);
    }
}
