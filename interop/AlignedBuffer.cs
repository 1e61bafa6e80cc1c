using System.Runtime.InteropServices;

namespace LoopOrder.Interop;

/// <summary>
/// Zeroed native memory at a fixed alignment (4096 by default, what O_DIRECT needs on any
/// logical block size up to a page), freed when disposed or finalized.
/// </summary>
/// <remarks>
/// Native memory does not move, so its address can sit in an SQE or a ublk FETCH_REQ for as long
/// as the buffer lives. Dispose only after the kernel is done with it: an in-flight read still
/// writes here even after the ring that issued it is disposed.
/// </remarks>
public sealed unsafe class AlignedBuffer : SafeHandle
{
    /// <summary>The alignment O_DIRECT needs for any logical block size up to a 4 KiB page.</summary>
    public const int PageAlignment = 4096;

    /// <summary>Allocates <paramref name="length"/> zeroed bytes at <paramref name="alignment"/>.</summary>
    /// <param name="length">Bytes to allocate; at least 1.</param>
    /// <param name="alignment">A power of two.</param>
    public AlignedBuffer(nuint length, nuint alignment = PageAlignment)
        : base(0, ownsHandle: true)
    {
        ArgumentOutOfRangeException.ThrowIfZero(length);
        if (alignment == 0 || (alignment & (alignment - 1)) != 0)
        {
            throw new ArgumentOutOfRangeException(nameof(alignment), alignment, "The alignment must be a power of two.");
        }

        void* memory = NativeMemory.AlignedAlloc(length, alignment);
        NativeMemory.Clear(memory, length);
        SetHandle((nint)memory);
        Length = length;
        Alignment = alignment;
    }

    /// <summary>The length in bytes.</summary>
    public nuint Length { get; }

    /// <summary>The alignment the buffer was allocated at.</summary>
    public nuint Alignment { get; }

    /// <summary>The first byte; stable for the buffer's life.</summary>
    public byte* Pointer => (byte*)handle;

    /// <inheritdoc />
    public override bool IsInvalid => handle == 0;

    /// <summary>The whole buffer as a span (at most <see cref="int.MaxValue"/> bytes).</summary>
    public Span<byte> Span => new(Pointer, checked((int)Length));

    /// <summary>A slice of the buffer as a span.</summary>
    /// <param name="offset">Start, in bytes.</param>
    /// <param name="length">Length, in bytes.</param>
    public Span<byte> Slice(int offset, int length) => Span.Slice(offset, length);

    /// <summary>Fills the buffer with zeros.</summary>
    public void Clear() => NativeMemory.Clear(Pointer, Length);

    /// <inheritdoc />
    protected override bool ReleaseHandle()
    {
        NativeMemory.AlignedFree((void*)handle);
        return true;
    }
}
