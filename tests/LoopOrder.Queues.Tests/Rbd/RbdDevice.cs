using LoopOrder.Interop.Rbd;
using LoopOrder.Queues.Dispatch;
using LoopOrder.Queues.Engine;
using LoopOrder.Queues.Ordering;
using LoopOrder.Queues.Requests;
using LoopOrder.Queues.Targets.Rbd;
using LoopOrder.Queues.Tests.Dispatch;
using LoopOrder.Queues.Tests.Nbd;

namespace LoopOrder.Queues.Tests.Rbd;

/// <summary>
/// An RBD image served through the whole engine (Sequencer, socket worker, <see cref="RbdBackend"/>),
/// as a ublk queue would drive it but without the kernel.
/// </summary>
internal sealed unsafe class RbdDevice : IDisposable
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(120);
    private readonly NbdBuffers _buffers = new();

    public RbdDevice(RbdBackendOptions options, OrderingMode mode = OrderingMode.Drain)
    {
        Backend = RbdBackend.Open(options);
        Engine = BlockEngine.Create(Backend, new EngineOptions { Mode = mode, Topology = NumaTopology.FromNodes([0]), PinWorkers = false });
    }

    public RbdBackend Backend { get; }

    public BlockEngine Engine { get; }

    public static RbdBackendOptions Options(CephTestCluster c, string image, int timeoutSeconds = 30, bool readOnly = false) => new()
    {
        Image = new RbdOpenOptions
        {
            ConfPath = c.Conf,
            Pool = CephTestCluster.Pool,
            Image = image,
            Timeout = TimeSpan.FromSeconds(timeoutSeconds),
            ReadOnly = readOnly,
        },
    };

    public int Write(long offset, byte[] data, RequestFlags flags = RequestFlags.None) => Wait(StartWrite(offset, data, flags));

    public (BlockRequest Request, CountingCompletion Done) StartWrite(long offset, byte[] data, RequestFlags flags = RequestFlags.None, int tag = 0)
    {
        nint buffer = _buffers.Allocate(data.Length);
        data.CopyTo(new Span<byte>((void*)buffer, data.Length));
        return Start(BlockOp.Write, flags, offset, data.Length, buffer, tag);
    }

    public int Flush() => Wait(Start(BlockOp.Flush, RequestFlags.None, 0, 0, 0, 0));

    public (BlockRequest Request, CountingCompletion Done) StartFlush(int tag) => Start(BlockOp.Flush, RequestFlags.None, 0, 0, 0, tag);

    public int Op(BlockOp op, long offset, int length, RequestFlags flags = RequestFlags.None) => Wait(Start(op, flags, offset, length, 0, 0));

    public (int Result, byte[] Bytes) TryRead(long offset, int length)
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

    private (BlockRequest, CountingCompletion) Start(BlockOp op, RequestFlags flags, long offset, int length, nint buffer, int tag)
    {
        var done = new CountingCompletion { Target = 1 };
        var r = new BlockRequest(0, tag, done);
        r.Prepare(op, flags, (ulong)offset / BlockRequest.SectorSize, (uint)(length / BlockRequest.SectorSize), buffer, length);
        Engine.Submit(r);
        return (r, done);
    }
}
