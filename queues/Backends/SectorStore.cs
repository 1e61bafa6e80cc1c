using System.Runtime.InteropServices;
using LoopOrder.Queues.Requests;

namespace LoopOrder.Queues.Backends;

/// <summary>
/// Device bytes in native memory, and the one place that applies a request's effect to bytes.
/// The memory and controlled backends share it, so both give every op the same meaning as the
/// file backend (discard and write-zeroes read back as zeros).
/// </summary>
public sealed unsafe class SectorStore : IDisposable
{
    private byte* _bytes;

    /// <summary>Allocates <paramref name="length"/> zeroed bytes.</summary>
    public SectorStore(long length)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(length);
        Length = length;
        _bytes = (byte*)NativeMemory.AllocZeroed((nuint)length);
    }

    /// <summary>Bytes in the store.</summary>
    public long Length { get; }

    /// <summary>The bytes, for inspection.</summary>
    public Span<byte> Bytes(long offset, int count)
    {
        ObjectDisposedException.ThrowIf(_bytes == null, this);
        ArgumentOutOfRangeException.ThrowIfNegative(offset);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(offset + count, Length);
        return new Span<byte>(_bytes + offset, count);
    }

    /// <summary>Applies a read, write, discard or write-zeroes; returns the request's result. A flush does nothing here.</summary>
    public int Apply(BlockRequest r)
    {
        ArgumentNullException.ThrowIfNull(r);
        int count = r.ByteCount;
        switch (r.Op)
        {
            case BlockOp.Read:
                Bytes(r.ByteOffset, count).CopyTo(new Span<byte>((void*)r.Buffer.Address, count));
                return count;
            case BlockOp.Write:
                new ReadOnlySpan<byte>((void*)r.Buffer.Address, count).CopyTo(Bytes(r.ByteOffset, count));
                return count;
            case BlockOp.Discard:
            case BlockOp.WriteZeroes:
                Bytes(r.ByteOffset, count).Clear();
                return 0;
            case BlockOp.Flush:
                return 0;
            default:
                return -95; // EOPNOTSUPP: the Sequencer never starts an unknown op.
        }
    }

    /// <inheritdoc />
    public void Dispose()
    {
        NativeMemory.Free(_bytes);
        _bytes = null;
    }
}
