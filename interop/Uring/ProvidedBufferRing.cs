namespace LoopOrder.Interop.Uring;

/// <summary>
/// A ring of provided buffers (IORING_REGISTER_PBUF_RING) for one buffer group of one
/// <see cref="IoUring"/>: an SQE flagged <see cref="IoSqeFlags.BufferSelect"/> with that group
/// lets the kernel take its data buffer from here when it has data, not when it is submitted,
/// which is what a multishot command that returns data needs. The ring's memory is one page
/// this object owns; entries are published by advancing the tail in entry 0.
/// </summary>
/// <remarks>
/// The owning ring's thread only. Dispose after the ring: closing the ring unregisters the group,
/// and the kernel may read the entries until then.
/// </remarks>
public sealed unsafe class ProvidedBufferRing : IDisposable
{
    private readonly SafeMmapHandle _memory;
    private readonly io_uring_buf* _entries;
    private readonly uint _mask;

    /// <summary>Registers a ring of <paramref name="entries"/> buffers for group <paramref name="groupId"/>.</summary>
    /// <param name="ring">The ring whose SQEs select from it.</param>
    /// <param name="groupId">The buffer group id (buf_group in SQEs).</param>
    /// <param name="entries">Entries, a power of two; at most a page's worth (256).</param>
    /// <param name="flags">IOU_PBUF_RING_* (<see cref="IoUringRegister.PbufRingInc"/>).</param>
    /// <exception cref="ErrnoException">The kernel refused (before 5.19: EINVAL; INC before 6.12: EINVAL).</exception>
    public ProvidedBufferRing(IoUring ring, ushort groupId, uint entries, ushort flags)
    {
        ArgumentNullException.ThrowIfNull(ring);
        int page = Environment.SystemPageSize;
        if (entries == 0 || (entries & (entries - 1)) != 0 || entries * (uint)sizeof(io_uring_buf) > (uint)page)
        {
            throw new ArgumentOutOfRangeException(nameof(entries), entries, "A power of two that fits one page of 16-byte entries.");
        }

        // The kernel wants the ring page-aligned: an anonymous mapping is.
        _memory = SafeMmapHandle.MapAnonymous((nuint)page, $"io_uring provided buffer ring {groupId}");
        _entries = (io_uring_buf*)_memory.Pointer;
        _mask = entries - 1;
        GroupId = groupId;
        try
        {
            var registration = new io_uring_buf_reg { ring_addr = (ulong)_memory.Pointer, ring_entries = entries, bgid = groupId, flags = flags };
            ring.Register(IoUringRegister.PbufRing, &registration, 1);
        }
        catch
        {
            _memory.Dispose();
            throw;
        }
    }

    /// <summary>The buffer group id.</summary>
    public ushort GroupId { get; }

    /// <summary>The ring's tail: entry 0's reserved field, where io_uring_buf_ring puts it.</summary>
    private ref ushort Tail => ref _entries[0].resv;

    /// <summary>
    /// Puts a buffer in the ring for the kernel to take. The entry is written before the tail
    /// moves (a release store), so the kernel never sees a half-written one.
    /// </summary>
    /// <param name="address">The buffer.</param>
    /// <param name="length">Its bytes.</param>
    /// <param name="bufferId">The id CQEs report for it.</param>
    public void Provide(nint address, uint length, ushort bufferId)
    {
        ushort tail = Tail;
        io_uring_buf* entry = _entries + (tail & _mask);
        entry->addr = (ulong)address;
        entry->len = length;
        entry->bid = bufferId;
        Volatile.Write(ref Tail, (ushort)(tail + 1));
    }

    /// <summary>Frees the ring's memory. Only after the owning ring is closed.</summary>
    public void Dispose() => _memory.Dispose();
}
