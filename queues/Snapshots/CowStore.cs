using System.Buffers.Binary;
using System.Numerics;
using System.Text;
using LoopOrder.Interop;
using LoopOrder.Queues.Requests;
using LoopOrder.Queues.Tracking;

namespace LoopOrder.Queues.Snapshots;

/// <summary>
/// One copy-on-write snapshot's store: the file that keeps the contents, as they were at the
/// snapshot's barrier, of every chunk of the device overwritten since. The snapshot is that store
/// over the live backing file: a chunk the store holds reads from it, any other from the device.
/// </summary>
/// <remarks>
/// <para>Format: a 4 KiB header (magic, version, state, chunk size, device size, barrier, creation
/// time, name; CRC-32C) and then records, each a 512-byte record header (magic, chunk number,
/// CRC-32C of the data, CRC-32C of the record header) followed by one chunk of data. Records are
/// only appended, and the <see cref="CopyOnWrite"/> gate lets an overwrite of a chunk reach the
/// backing file only after the record holding the chunk's old contents is fdatasynced.</para>
/// <para>Why that is crash-safe: after a SIGKILL or a power cut, <see cref="Open"/> reads records
/// from the start and stops at the first that does not check out (a torn tail: any subset of
/// the last batch's sectors may have reached the disk). Every chunk whose record was in that
/// batch still had its overwrite held, so the live file still holds the old contents: the
/// snapshot reads them from there, correct either way. The next append starts at that first bad
/// record, so no later record can follow garbage.</para>
/// <para>Why 512-byte record headers and not one 4 KiB page: the header is 0.8 % of a 64 KiB
/// record; the data is written with it in one pwrite, so alignment buys nothing here.</para>
/// </remarks>
public sealed class CowStore : IDisposable
{
    /// <summary>"LOCOWST1", little-endian: a store's header.</summary>
    public const ulong HeaderMagic = 0x3154_5357_4F43_4F4CUL;

    /// <summary>"LOCOWRC1", little-endian: a record's header.</summary>
    public const ulong RecordMagic = 0x3143_5257_4F43_4F4CUL;

    /// <summary>The format version this code writes and reads.</summary>
    public const int Version = 1;

    /// <summary>Bytes of the store's header: one page, so rewriting it (to mark the store invalid) touches no record.</summary>
    public const int HeaderSize = 4096;

    /// <summary>Bytes of a record's header before its chunk of data.</summary>
    public const int RecordHeaderSize = 512;

    /// <summary>Where the header's checksum sits (computed with these 4 bytes zero).</summary>
    private const int HeaderCrcOffset = HeaderSize - 4;

    /// <summary>Longest name kept in the header (snapshot names are at most 64 ASCII characters).</summary>
    private const int MaxNameBytes = 255;

    private readonly SafeFileDescriptor _fd;

    /// <summary>Chunk number → offset of its record's data, for <see cref="ReadChunk"/>; under <see cref="_gate"/>.</summary>
    private readonly Dictionary<long, long> _records = [];

    private readonly Lock _gate = new();

    /// <summary>The chunks this store holds: set (after the record is durable) before the overwrite is dispatched, read without a lock.</summary>
    private readonly RegionMap _preserved;

    /// <summary>Where the next record goes; only the copying thread appends.</summary>
    private long _appendAt;

    /// <summary>One record header, reused: only the copying thread appends.</summary>
    private readonly byte[] _recordHeader = new byte[RecordHeaderSize];

    private CowStore(SafeFileDescriptor fd, string path, CowStoreHeader header)
    {
        _fd = fd;
        Path = path;
        Header = header;
        ChunkCount = (header.DeviceBytes + header.ChunkSize - 1) / header.ChunkSize;
        _preserved = new RegionMap(ChunkCount);
        _appendAt = HeaderSize;
    }

    /// <summary>The store's file.</summary>
    public string Path { get; }

    /// <summary>What the header says.</summary>
    public CowStoreHeader Header { get; private set; }

    /// <summary>Chunks of the device at the snapshot.</summary>
    public long ChunkCount { get; }

    /// <summary>Chunks preserved so far.</summary>
    public long PreservedChunks
    {
        get
        {
            lock (_gate)
            {
                return _records.Count;
            }
        }
    }

    /// <summary>Bytes of the store file in use (header and records).</summary>
    public long Bytes => Interlocked.Read(ref _appendAt);

    /// <summary>Whether chunk <paramref name="chunk"/>'s contents at the snapshot are in this store (otherwise the live file still has them).</summary>
    public bool Holds(long chunk) => chunk < ChunkCount && _preserved.Test(chunk);

    /// <summary>
    /// Makes a new store in <paramref name="fd"/> (a new, empty file the caller created with
    /// O_EXCL, which this store then owns): writes the header, fdatasyncs it and the directory
    /// entry, so the snapshot outlives a power cut from the moment this returns.
    /// </summary>
    /// <exception cref="ErrnoException">Writing or syncing failed.</exception>
    public static CowStore Create(SafeFileDescriptor fd, string path, CowStoreHeader header)
    {
        ArgumentNullException.ThrowIfNull(fd);
        ArgumentNullException.ThrowIfNull(path);
        if (!BitOperations.IsPow2(header.ChunkSize) || header.ChunkSize < BlockRequest.SectorSize)
        {
            throw new ArgumentOutOfRangeException(nameof(header), header.ChunkSize, "The chunk size must be a power of two of at least 512 bytes.");
        }

        var store = new CowStore(fd, path, header);
        store.WriteHeader(header);
        string dir = System.IO.Path.GetDirectoryName(System.IO.Path.GetFullPath(path)) ?? "/";
        using SafeFileDescriptor dirFd = FileDescriptor.Open(dir, OpenFlags.ReadOnly);
        FileDescriptor.DataSync(dirFd);
        return store;
    }

    /// <summary>
    /// Opens an existing store: checks its header, then reads its records up to the first that
    /// does not check out (a crash's torn tail), which the next append overwrites.
    /// </summary>
    /// <exception cref="ErrnoException">The file could not be opened or read.</exception>
    /// <exception cref="InvalidDataException">The header is not a store's, or is damaged.</exception>
    public static CowStore Open(string path, bool writable = true)
    {
        ArgumentNullException.ThrowIfNull(path);
        SafeFileDescriptor fd = FileDescriptor.Open(path, writable ? OpenFlags.ReadWrite : OpenFlags.ReadOnly);
        try
        {
            Span<byte> block = new byte[HeaderSize];
            if (ReadFully(fd, block, 0) != HeaderSize || DecodeHeader(block) is not { } header)
            {
                throw new InvalidDataException($"{path} is not a LoopOrder copy-on-write snapshot store, or its header is damaged");
            }

            var store = new CowStore(fd, path, header);
            store.Scan();
            return store;
        }
        catch
        {
            fd.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Appends chunk <paramref name="chunk"/>'s old contents (into the page cache: durable only
    /// after <see cref="Sync"/>). Only the copying thread calls it.
    /// </summary>
    /// <param name="chunk">The chunk.</param>
    /// <param name="data">Its contents at the snapshot: exactly one chunk (the device's last, partial chunk zero-padded).</param>
    /// <exception cref="ErrnoException">The write failed (ENOSPC, EIO): the store can no longer keep its promise.</exception>
    public void Append(long chunk, ReadOnlySpan<byte> data)
    {
        if (data.Length != Header.ChunkSize)
        {
            throw new ArgumentException($"A record holds exactly one chunk ({Header.ChunkSize} bytes).", nameof(data));
        }

        Span<byte> h = _recordHeader;
        h.Clear();
        BinaryPrimitives.WriteUInt64LittleEndian(h, RecordMagic);
        BinaryPrimitives.WriteInt64LittleEndian(h[8..], chunk);
        BinaryPrimitives.WriteUInt32LittleEndian(h[16..], Crc32C(data));
        BinaryPrimitives.WriteUInt32LittleEndian(h[20..], Crc32C(h[..20]));
        long at = _appendAt;
        FileDescriptor.PWriteAll(_fd, h, at);
        FileDescriptor.PWriteAll(_fd, data, at + RecordHeaderSize);
        lock (_gate)
        {
            _records[chunk] = at + RecordHeaderSize;
        }

        Interlocked.Exchange(ref _appendAt, at + RecordHeaderSize + Header.ChunkSize);
    }

    /// <summary>Makes the records appended so far durable (fdatasync).</summary>
    /// <exception cref="ErrnoException">The sync failed.</exception>
    public void Sync() => FileDescriptor.DataSync(_fd);

    /// <summary>
    /// Marks chunks as held once their records are durable (after <see cref="Sync"/>): from here
    /// on <see cref="Holds"/> says so, and the overwrite may be dispatched.
    /// </summary>
    public void MarkPreserved(long chunk) => _preserved.Set(chunk);

    /// <summary>Reads chunk <paramref name="chunk"/>'s preserved contents into <paramref name="destination"/>; false when the store does not hold it.</summary>
    /// <exception cref="ErrnoException">The read failed.</exception>
    /// <exception cref="InvalidDataException">The record's data no longer matches its checksum.</exception>
    public bool ReadChunk(long chunk, Span<byte> destination)
    {
        long at;
        lock (_gate)
        {
            if (!_records.TryGetValue(chunk, out at))
            {
                return false;
            }
        }

        Span<byte> data = destination[..Header.ChunkSize];
        FileDescriptor.PReadExactly(_fd, data, at);
        Span<byte> h = stackalloc byte[24];
        FileDescriptor.PReadExactly(_fd, h, at - RecordHeaderSize);
        if (BinaryPrimitives.ReadUInt32LittleEndian(h[16..]) != Crc32C(data))
        {
            throw new InvalidDataException($"{Path}: the preserved copy of chunk {chunk} does not match its checksum");
        }

        return true;
    }

    /// <summary>
    /// Marks the store invalid in its header and syncs it: a store that failed to keep a chunk is
    /// no snapshot, and must never be read as one after a restart.
    /// </summary>
    /// <exception cref="ErrnoException">The header could not be written or synced.</exception>
    public void MarkInvalid(string reason)
    {
        ArgumentNullException.ThrowIfNull(reason);
        WriteHeader(Header with { Invalid = true });
    }

    /// <inheritdoc />
    public void Dispose() => _fd.Dispose();

    private void WriteHeader(CowStoreHeader header)
    {
        byte[] block = new byte[HeaderSize];
        EncodeHeader(block, header);
        FileDescriptor.PWriteAll(_fd, block, 0);
        FileDescriptor.DataSync(_fd);
        Header = header;
    }

    private void Scan()
    {
        int chunkSize = Header.ChunkSize;
        byte[] data = new byte[chunkSize];
        Span<byte> h = new byte[RecordHeaderSize];
        long at = HeaderSize;
        while (true)
        {
            if (ReadFully(_fd, h, at) != RecordHeaderSize
                || BinaryPrimitives.ReadUInt64LittleEndian(h) != RecordMagic
                || BinaryPrimitives.ReadUInt32LittleEndian(h[20..]) != Crc32C(h[..20]))
            {
                break;
            }

            long chunk = BinaryPrimitives.ReadInt64LittleEndian(h[8..]);
            if (chunk < 0 || chunk >= ChunkCount
                || ReadFully(_fd, data, at + RecordHeaderSize) != chunkSize
                || BinaryPrimitives.ReadUInt32LittleEndian(h[16..]) != Crc32C(data))
            {
                break;
            }

            // A chunk is preserved once; should a record repeat it, the first (the snapshot's contents) wins.
            if (_records.TryAdd(chunk, at + RecordHeaderSize))
            {
                _preserved.Set(chunk);
            }

            at += RecordHeaderSize + chunkSize;
        }

        _appendAt = at;
    }

    private static int ReadFully(SafeFileDescriptor fd, Span<byte> buffer, long offset)
    {
        int total = 0;
        while (total < buffer.Length)
        {
            int n = FileDescriptor.PRead(fd, buffer[total..], offset + total);
            if (n == 0)
            {
                break;
            }

            total += n;
        }

        return total;
    }

    private static void EncodeHeader(Span<byte> block, CowStoreHeader header)
    {
        block.Clear();
        BinaryPrimitives.WriteUInt64LittleEndian(block, HeaderMagic);
        BinaryPrimitives.WriteInt32LittleEndian(block[8..], Version);
        BinaryPrimitives.WriteInt32LittleEndian(block[12..], header.Invalid ? 1 : 0);
        BinaryPrimitives.WriteInt32LittleEndian(block[16..], header.ChunkSize);
        BinaryPrimitives.WriteInt64LittleEndian(block[24..], header.DeviceBytes);
        BinaryPrimitives.WriteInt64LittleEndian(block[32..], header.Barrier);
        BinaryPrimitives.WriteInt64LittleEndian(block[40..], header.Created.ToUnixTimeMilliseconds());
        int n = Encoding.UTF8.GetBytes(header.Name.AsSpan(0, Math.Min(header.Name.Length, MaxNameBytes)), block[50..(50 + MaxNameBytes)]);
        BinaryPrimitives.WriteUInt16LittleEndian(block[48..], (ushort)n);
        BinaryPrimitives.WriteUInt32LittleEndian(block[HeaderCrcOffset..], Crc32C(block[..HeaderCrcOffset]));
    }

    private static CowStoreHeader? DecodeHeader(ReadOnlySpan<byte> block)
    {
        if (BinaryPrimitives.ReadUInt64LittleEndian(block) != HeaderMagic
            || BinaryPrimitives.ReadInt32LittleEndian(block[8..]) != Version
            || BinaryPrimitives.ReadUInt32LittleEndian(block[HeaderCrcOffset..]) != Crc32C(block[..HeaderCrcOffset]))
        {
            return null;
        }

        int chunkSize = BinaryPrimitives.ReadInt32LittleEndian(block[16..]);
        long deviceBytes = BinaryPrimitives.ReadInt64LittleEndian(block[24..]);
        int nameBytes = BinaryPrimitives.ReadUInt16LittleEndian(block[48..]);
        if (!BitOperations.IsPow2(chunkSize) || chunkSize < BlockRequest.SectorSize || deviceBytes < 0 || nameBytes > MaxNameBytes)
        {
            return null;
        }

        return new CowStoreHeader(
            Encoding.UTF8.GetString(block.Slice(50, nameBytes)),
            chunkSize,
            deviceBytes,
            BinaryPrimitives.ReadInt64LittleEndian(block[32..]),
            DateTimeOffset.FromUnixTimeMilliseconds(BinaryPrimitives.ReadInt64LittleEndian(block[40..])),
            BinaryPrimitives.ReadInt32LittleEndian(block[12..]) != 0);
    }

    /// <summary>CRC-32C (hardware, 8 bytes a step where it can).</summary>
    internal static uint Crc32C(ReadOnlySpan<byte> data)
    {
        uint crc = 0xFFFF_FFFFu;
        int i = 0;
        for (; i + 8 <= data.Length; i += 8)
        {
            crc = BitOperations.Crc32C(crc, BinaryPrimitives.ReadUInt64LittleEndian(data[i..]));
        }

        for (; i < data.Length; i++)
        {
            crc = BitOperations.Crc32C(crc, data[i]);
        }

        return ~crc;
    }
}
