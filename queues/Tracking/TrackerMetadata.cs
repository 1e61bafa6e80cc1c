using System.Buffers.Binary;
using System.Numerics;

namespace LoopOrder.Queues.Tracking;

/// <summary>What a valid metadata slot holds.</summary>
/// <param name="Sequence">The commit's number: the slot with the higher valid one is the current state.</param>
/// <param name="Generation">The generation the bitmap belongs to (a snapshot starts the next).</param>
/// <param name="RegionSize">Bytes a bit stands for.</param>
/// <param name="RegionCount">Regions in the bitmap.</param>
public readonly record struct TrackerSlotHeader(ulong Sequence, ulong Generation, int RegionSize, long RegionCount);

/// <summary>
/// The metadata file's format: two slots, A at offset 0 and B at <see cref="SlotSize"/>, each a
/// 64-byte header (magic, version, region size, region count, generation, sequence, CRC-32C over
/// the header and the bitmap) followed by the whole bitmap of the current generation. A commit
/// writes the complete new bitmap into the slot that does not hold the newest valid state, then
/// fdatasyncs; the reader takes the valid slot with the higher sequence.
/// </summary>
/// <remarks>
/// Why alternating slots and not one bitmap rewritten in place or an append-only log: a write
/// torn by a crash (any subset of its sectors reaching the disk, in any order) can only damage
/// the slot being written, whose checksum then fails, and the other slot still holds the state
/// the last completed sync made durable. Every write whose region was new in the torn commit was
/// still held (writes wait for the commit's sync), so no bit that a landed write needs is lost.
/// An in-place bitmap could lose old bits to a torn write; an append-only log would need
/// compaction, which needs this same two-copy scheme (or a rename) to be crash-safe. The cost is
/// one whole bitmap per commit: 2 KiB per GiB of device at 64 KiB regions (2 MiB per TiB), paid
/// only by first touches, which are batched.
/// </remarks>
public static class TrackerMetadata
{
    /// <summary>"LOCBTMD1", little-endian.</summary>
    public const ulong Magic = 0x31444D544243_4F4CUL;

    /// <summary>The format version this code writes and reads.</summary>
    public const int Version = 1;

    /// <summary>Bytes of a slot's header; the bitmap follows it.</summary>
    public const int HeaderSize = 64;

    /// <summary>Where the checksum sits in the header (it is computed with these 4 bytes zero).</summary>
    private const int CrcOffset = 48;

    /// <summary>Bytes of one slot for <paramref name="regionCount"/> regions: header and bitmap, rounded up to 4 KiB so the slots share no page.</summary>
    public static long SlotSize(long regionCount) => (HeaderSize + (((regionCount + 63) >> 6) * 8) + 4095) & ~4095L;

    /// <summary>Writes a slot (header and <paramref name="bitmap"/>) into <paramref name="slot"/>, which is <see cref="SlotSize"/> bytes.</summary>
    public static void Encode(Span<byte> slot, in TrackerSlotHeader header, RegionMap bitmap)
    {
        ArgumentNullException.ThrowIfNull(bitmap);
        slot.Clear();
        BinaryPrimitives.WriteUInt64LittleEndian(slot, Magic);
        BinaryPrimitives.WriteInt32LittleEndian(slot[8..], Version);
        BinaryPrimitives.WriteInt32LittleEndian(slot[12..], header.RegionSize);
        BinaryPrimitives.WriteInt64LittleEndian(slot[16..], header.RegionCount);
        BinaryPrimitives.WriteUInt64LittleEndian(slot[24..], header.Generation);
        BinaryPrimitives.WriteUInt64LittleEndian(slot[32..], header.Sequence);
        bitmap.CopyTo(slot[HeaderSize..]);
        BinaryPrimitives.WriteUInt32LittleEndian(slot[CrcOffset..], Crc(slot[..Used(header.RegionCount)]));
    }

    /// <summary>
    /// Reads a slot: its header, and its bitmap OR-ed into <paramref name="into"/> when given.
    /// Null when the slot is not a valid one (wrong magic or version, impossible sizes, torn or
    /// corrupt: the checksum does not match).
    /// </summary>
    public static TrackerSlotHeader? TryDecode(ReadOnlySpan<byte> slot, RegionMap? into = null)
    {
        if (slot.Length < HeaderSize || BinaryPrimitives.ReadUInt64LittleEndian(slot) != Magic ||
            BinaryPrimitives.ReadInt32LittleEndian(slot[8..]) != Version)
        {
            return null;
        }

        int regionSize = BinaryPrimitives.ReadInt32LittleEndian(slot[12..]);
        long count = BinaryPrimitives.ReadInt64LittleEndian(slot[16..]);
        if (regionSize <= 0 || !BitOperations.IsPow2(regionSize) || count < 0 || count > (long)int.MaxValue * 8 || Used(count) > slot.Length)
        {
            return null;
        }

        uint stored = BinaryPrimitives.ReadUInt32LittleEndian(slot[CrcOffset..]);
        if (stored != Crc(slot[..Used(count)]))
        {
            return null;
        }

        into?.OrFrom(slot[HeaderSize..Used(count)], count);
        return new TrackerSlotHeader(
            BinaryPrimitives.ReadUInt64LittleEndian(slot[32..]),
            BinaryPrimitives.ReadUInt64LittleEndian(slot[24..]),
            regionSize,
            count);
    }

    /// <summary>Header plus bitmap bytes (the part the checksum covers).</summary>
    private static int Used(long regionCount) => checked(HeaderSize + (int)(((regionCount + 63) >> 6) * 8));

    /// <summary>CRC-32C of <paramref name="data"/> with the checksum field read as zero.</summary>
    private static uint Crc(ReadOnlySpan<byte> data)
    {
        uint crc = 0xFFFF_FFFFu;
        for (int i = 0; i < data.Length; i += 8)
        {
            ulong word = BinaryPrimitives.ReadUInt64LittleEndian(data[i..]);
            if (i == CrcOffset)
            {
                word &= 0xFFFF_FFFF_0000_0000UL;
            }

            crc = BitOperations.Crc32C(crc, word);
        }

        return ~crc;
    }
}
