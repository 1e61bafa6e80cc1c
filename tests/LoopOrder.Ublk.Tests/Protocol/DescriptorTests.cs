using System.Buffers.Binary;
using System.Runtime.InteropServices;
using LoopOrder.Queues.Requests;
using LoopOrder.Ublk.Protocol;
using LoopOrder.Ublk.Queue;
using LoopOrder.Ublk.Structs;

namespace LoopOrder.Ublk.Tests.Protocol;

/// <summary>Reading the kernel's descriptor bytes into a prepared request.</summary>
public class DescriptorTests
{
    private sealed class NoCompletion : IRequestCompletion
    {
        public void Complete(BlockRequest request, int result)
        {
        }
    }

    private static ublksrv_io_desc FromBytes(uint opFlags, uint sectors, ulong start, ulong addr)
    {
        // Written as the kernel would: little-endian fields at 0, 4, 8, 16.
        byte[] raw = new byte[ublksrv_io_desc.Size];
        BinaryPrimitives.WriteUInt32LittleEndian(raw.AsSpan(0), opFlags);
        BinaryPrimitives.WriteUInt32LittleEndian(raw.AsSpan(4), sectors);
        BinaryPrimitives.WriteUInt64LittleEndian(raw.AsSpan(8), start);
        BinaryPrimitives.WriteUInt64LittleEndian(raw.AsSpan(16), addr);
        return MemoryMarshal.Read<ublksrv_io_desc>(raw);
    }

    [Fact]
    public void AWriteWithFuaBecomesAFuaWrite()
    {
        ublksrv_io_desc d = FromBytes(UblkIoOp.Write | UblkIoFlags.Fua | UblkIoFlags.Meta, 8, 2048, 0x1000);
        Assert.Equal(UblkIoOp.Write, d.Op);
        Assert.Equal(UblkIoFlags.Fua | UblkIoFlags.Meta, d.Flags);

        var request = new BlockRequest(1, 5, new NoCompletion());
        UblkQueue.PrepareFromDescriptor(request, d, RequestBuffer.Memory(0x7000_0000, 512 * 1024));
        Assert.Equal(BlockOp.Write, request.Op);
        Assert.Equal(RequestFlags.Fua, request.Flags); // META is not the engine's business
        Assert.Equal(2048ul, request.StartSector);
        Assert.Equal(8u, request.SectorCount);
        Assert.Equal(2048L * 512, request.ByteOffset);
        Assert.Equal(4096, request.ByteCount);
        Assert.Equal(RequestBufferKind.Memory, request.Buffer.Kind);
        Assert.Equal(0x7000_0000, request.Buffer.Address);
        Assert.Equal(512 * 1024, request.Buffer.Length);
    }

    [Fact]
    public void NoUnmapIsTestedOnTheUnshiftedFlags()
    {
        // DESIGN.md: NOUNMAP is bit 15 of op_flags itself; shifting op_flags first would lose it.
        ublksrv_io_desc d = FromBytes(UblkIoOp.WriteZeroes | UblkIoFlags.NoUnmap, 64, 0, 0);
        var request = new BlockRequest(0, 0, new NoCompletion());
        UblkQueue.PrepareFromDescriptor(request, d, RequestBuffer.Memory(0x1000, 4096));
        Assert.Equal(BlockOp.WriteZeroes, request.Op);
        Assert.Equal(RequestFlags.NoUnmap, request.Flags);
        Assert.Equal(RequestBufferKind.None, request.Buffer.Kind); // no data: the tag's buffer is not handed on
    }

    [Theory]
    [InlineData(UblkIoOp.Read, BlockOp.Read)]
    [InlineData(UblkIoOp.Flush, BlockOp.Flush)]
    [InlineData(UblkIoOp.Discard, BlockOp.Discard)]
    [InlineData(UblkIoOp.WriteSame, (BlockOp)4)]
    [InlineData(18, (BlockOp)18)] // REPORT_ZONES: carried as is, and the engine fails it
    public void OpsAreCarriedByValue(byte op, BlockOp expected)
    {
        var request = new BlockRequest(0, 0, new NoCompletion());
        UblkQueue.PrepareFromDescriptor(request, FromBytes(op, 0, 0, 0), RequestBuffer.Memory(0x1000, 4096));
        Assert.Equal(expected, request.Op);
        Assert.Equal(RequestFlags.None, request.Flags);
        Assert.Equal(expected == BlockOp.Read ? RequestBufferKind.Memory : RequestBufferKind.None, request.Buffer.Kind);
    }
}
