using System.Diagnostics;
using System.Diagnostics.CodeAnalysis;

namespace LoopOrder.Queues.Requests;

/// <summary>
/// A request's data buffer and its kind, in one value: an address that only means something for
/// <see cref="RequestBufferKind.Memory"/> and an owner that only means something for
/// <see cref="RequestBufferKind.Registered"/> cannot be mixed up or set together. A value
/// type, so the transport sets one per request without allocating; <c>default</c> is
/// <see cref="None"/>.
/// </summary>
public readonly struct RequestBuffer
{
    private readonly IRegisteredData? _registered;
    private readonly nint _address;
    private readonly int _length;
    private readonly RequestBufferKind _kind;

    private RequestBuffer(RequestBufferKind kind, nint address, IRegisteredData? registered, int length)
    {
        Debug.Assert(length >= 0, $"negative buffer length {length}");
        _kind = kind;
        _address = address;
        _registered = registered;
        _length = length;
    }

    /// <summary>No data buffer: what flushes, discards and write-zeroes carry.</summary>
    public static RequestBuffer None => default;

    /// <summary>What kind of buffer this is, hence who may move its data.</summary>
    public RequestBufferKind Kind => _kind;

    /// <summary>
    /// The buffer's first byte, for <see cref="RequestBufferKind.Memory"/>; 0 for the other kinds,
    /// so code that only checks alignment or nullness needs no kind test of its own.
    /// </summary>
    public nint Address => _address;

    /// <summary>Bytes the buffer holds (in memory or in the registered pages); 0 for <see cref="RequestBufferKind.None"/>.</summary>
    public int Length => _length;

    /// <summary>
    /// A buffer in this process's memory, read into for reads and written from for writes. A null
    /// <paramref name="address"/> is no buffer at all and gives <see cref="None"/>: then nothing
    /// can ever dereference 0, and a read or write carrying it is malformed
    /// (<see cref="BlockRequest.CheckBounds"/>) as a missing buffer always was.
    /// </summary>
    /// <param name="address">The first byte; the transport owns the memory.</param>
    /// <param name="length">Bytes available at <paramref name="address"/>.</param>
    /// <param name="transport">
    /// The transport that owns the memory, when its own ring can also read and write a file
    /// with it (<see cref="TryGetTransport"/>); null when only a backend's executor moves it.
    /// </param>
    public static RequestBuffer Memory(nint address, int length, IRegisteredData? transport = null) =>
        address == 0 ? default : new RequestBuffer(RequestBufferKind.Memory, address, transport, length);

    /// <summary>Data in pages only the transport's ring reaches; reads and writes go to <paramref name="owner"/>.</summary>
    /// <param name="owner">The transport that registered the pages and moves them.</param>
    /// <param name="length">Bytes the registered pages hold.</param>
    /// <exception cref="ArgumentNullException"><paramref name="owner"/> is null.</exception>
    public static RequestBuffer Registered(IRegisteredData owner, int length)
    {
        ArgumentNullException.ThrowIfNull(owner);
        return new RequestBuffer(RequestBufferKind.Registered, 0, owner, length);
    }

    /// <summary>Gets the transport that moves the data, when the buffer is <see cref="RequestBufferKind.Registered"/>.</summary>
    /// <param name="owner">The transport; null when this returns false.</param>
    /// <returns>True for a registered buffer.</returns>
    public bool TryGetRegistered([NotNullWhen(true)] out IRegisteredData? owner)
    {
        owner = _kind == RequestBufferKind.Registered ? _registered : null;
        return owner is not null;
    }

    /// <summary>
    /// Gets the transport whose ring can move the data between this buffer and a file: always
    /// for <see cref="RequestBufferKind.Registered"/> (nothing else can), and for
    /// <see cref="RequestBufferKind.Memory"/> when the transport offered it.
    /// </summary>
    /// <param name="transport">The transport; null when this returns false.</param>
    /// <returns>True when a transport can move the data.</returns>
    public bool TryGetTransport([NotNullWhen(true)] out IRegisteredData? transport)
    {
        transport = _registered;
        return transport is not null;
    }

    /// <inheritdoc />
    public override string ToString() => _kind switch
    {
        RequestBufferKind.Memory => $"Memory 0x{_address:x}+{_length}{(_registered is null ? "" : " (transport)")}",
        RequestBufferKind.Registered => $"Registered +{_length}",
        _ => "None",
    };
}
