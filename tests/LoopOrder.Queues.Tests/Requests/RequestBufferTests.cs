using LoopOrder.Interop;
using LoopOrder.Queues.Backends;
using LoopOrder.Queues.Requests;
using LoopOrder.Queues.Tests.Dispatch;

namespace LoopOrder.Queues.Tests.Requests;

/// <summary>
/// The request's buffer as one value: each kind answers only for what it has (an address for
/// memory, an owner for registered pages), and a read or write without enough of a buffer is
/// malformed whichever kind it lacks.
/// </summary>
public sealed class RequestBufferTests
{
    private const ulong Capacity = 1 << 20; // sectors
    private static readonly int Einval = Errno.EINVAL.ToResult();

    [Fact]
    public void None_is_the_default_and_has_no_address_length_or_owner()
    {
        foreach (RequestBuffer none in new[] { RequestBuffer.None, default })
        {
            Assert.Equal(RequestBufferKind.None, none.Kind);
            Assert.Equal(0, none.Address);
            Assert.Equal(0, none.Length);
            Assert.False(none.TryGetRegistered(out IRegisteredData? owner));
            Assert.Null(owner);
        }
    }

    [Fact]
    public void Memory_has_its_address_and_length_and_no_owner()
    {
        RequestBuffer memory = RequestBuffer.Memory(0x7000_1000, 8192);

        Assert.Equal(RequestBufferKind.Memory, memory.Kind);
        Assert.Equal(0x7000_1000, memory.Address);
        Assert.Equal(8192, memory.Length);
        Assert.False(memory.TryGetRegistered(out IRegisteredData? owner));
        Assert.Null(owner);
    }

    [Fact]
    public void Memory_may_name_the_transport_that_can_move_it_without_becoming_registered()
    {
        var transport = new Transport();
        RequestBuffer plain = RequestBuffer.Memory(0x7000_1000, 4096);
        RequestBuffer movable = RequestBuffer.Memory(0x7000_1000, 4096, transport);
        RequestBuffer registered = RequestBuffer.Registered(transport, 4096);

        Assert.False(plain.TryGetTransport(out _));
        Assert.Equal(RequestBufferKind.Memory, movable.Kind);
        Assert.Equal(0x7000_1000, movable.Address);
        Assert.False(movable.TryGetRegistered(out _));
        Assert.True(movable.TryGetTransport(out IRegisteredData? mover));
        Assert.Same(transport, mover);
        Assert.True(registered.TryGetTransport(out mover));
        Assert.Same(transport, mover);
    }

    [Fact]
    public void Memory_at_a_null_address_is_no_buffer()
    {
        RequestBuffer nothing = RequestBuffer.Memory(0, 4096);

        Assert.Equal(RequestBufferKind.None, nothing.Kind);
        Assert.Equal(0, nothing.Length);
    }

    [Fact]
    public void Registered_has_its_owner_and_length_and_no_address()
    {
        var transport = new Transport();
        RequestBuffer registered = RequestBuffer.Registered(transport, 4096);

        Assert.Equal(RequestBufferKind.Registered, registered.Kind);
        Assert.Equal(0, registered.Address);
        Assert.Equal(4096, registered.Length);
        Assert.True(registered.TryGetRegistered(out IRegisteredData? owner));
        Assert.Same(transport, owner);
        Assert.Throws<ArgumentNullException>(() => RequestBuffer.Registered(null!, 4096));
    }

    [Fact]
    public void Prepare_replaces_the_previous_requests_buffer()
    {
        var r = new BlockRequest(0, 0, new CountingCompletion());
        r.Prepare(BlockOp.Write, RequestFlags.None, 0, 8, RequestBuffer.Registered(new Transport(), 4096));
        Assert.Equal(RequestBufferKind.Registered, r.Buffer.Kind);

        r.Prepare(BlockOp.Flush, RequestFlags.None, 0, 0, RequestBuffer.None);
        Assert.Equal(RequestBufferKind.None, r.Buffer.Kind);
        Assert.False(r.Buffer.TryGetRegistered(out _));
    }

    [Theory]
    [InlineData(BlockOp.Read)]
    [InlineData(BlockOp.Write)]
    public void A_read_or_write_without_a_buffer_is_EINVAL(BlockOp op) =>
        Assert.Equal(Einval, Check(op, 8, RequestBuffer.None));

    [Theory]
    [InlineData(BlockOp.Read)]
    [InlineData(BlockOp.Write)]
    public void A_read_or_write_longer_than_its_memory_is_EINVAL_and_one_that_fits_is_valid(BlockOp op)
    {
        Assert.Equal(Einval, Check(op, 8, RequestBuffer.Memory(0x7000_0000, 4095)));
        Assert.Equal(0, Check(op, 8, RequestBuffer.Memory(0x7000_0000, 4096)));
    }

    [Theory]
    [InlineData(BlockOp.Read)]
    [InlineData(BlockOp.Write)]
    public void A_read_or_write_in_registered_pages_that_hold_it_is_valid(BlockOp op)
    {
        Assert.Equal(0, Check(op, 8, RequestBuffer.Registered(new Transport(), 4096)));
        Assert.Equal(0, Check(op, 8, RequestBuffer.Registered(new Transport(), 512 * 1024)));
        Assert.Equal(Einval, Check(op, 8, RequestBuffer.Registered(new Transport(), 4095)));
    }

    [Theory]
    [InlineData(BlockOp.Flush, 0u)]
    [InlineData(BlockOp.Discard, 8u)]
    [InlineData(BlockOp.WriteZeroes, 8u)]
    public void Ops_without_data_need_no_buffer(BlockOp op, uint sectors) =>
        Assert.Equal(0, Check(op, sectors, RequestBuffer.None));

    private static int Check(BlockOp op, uint sectors, RequestBuffer buffer)
    {
        var r = new BlockRequest(0, 0, new CountingCompletion());
        r.Prepare(op, RequestFlags.None, 8, sectors, buffer);
        return r.CheckBounds(Capacity);
    }

    /// <summary>Never asked to move anything: these requests only have their bounds checked.</summary>
    private sealed class Transport : IRegisteredData
    {
        public void StartTransfer(BlockRequest request, IRegisteredFile file, IBackendCompletion completion) =>
            throw new InvalidOperationException("no transfer expected");
    }
}
