using System.Buffers.Binary;
using System.Runtime.InteropServices;
using LoopOrder.Queues.Requests;

namespace LoopOrder.Verification;

/// <summary>What a sector read back from a device or a crash image turned out to be.</summary>
public enum SectorStatus : byte
{
    /// <summary>All zeros: never written, discarded, or zeroed.</summary>
    Zero,

    /// <summary>A complete sector written by the write named in its header, at this very sector.</summary>
    Valid,

    /// <summary>Neither zeros nor a sector whose checksum matches: a torn or corrupted write.</summary>
    Torn,

    /// <summary>A whole, valid sector that was written for another sector: a misplaced write.</summary>
    Misplaced,

    /// <summary>A whole, valid sector from a run with another seed: stale data from elsewhere.</summary>
    Foreign,
}

/// <summary>A decoded sector: the write that produced it (0 for zeros) and whether it is whole and in place.</summary>
/// <param name="WriteId">The write id in the header, 0 for a zero sector.</param>
/// <param name="Status">Whether the sector is zeros, valid, or broken in some way.</param>
public readonly record struct SectorValue(ulong WriteId, SectorStatus Status)
{
    /// <summary>A zero sector.</summary>
    public static SectorValue Zero => new(0, SectorStatus.Zero);

    /// <inheritdoc />
    public override string ToString() => Status switch
    {
        SectorStatus.Zero => "zeros",
        SectorStatus.Valid => $"w{WriteId}",
        _ => $"{Status.ToString().ToLowerInvariant()}(w{WriteId})",
    };
}

/// <summary>
/// The format of every sector the checker writes, so that any sector read back or found in a
/// crash image names the write that produced it, and torn or misplaced writes show:
/// <code>
/// offset  size  field
///      0     4  magic 0x4C4F5244 ("DROL" little-endian)
///      4     4  reserved, 0
///      8     8  write id (never 0: 0 means "zeros")
///     16     8  the sector this data was written for
///     24     8  the run's seed
///     32     8  checksum of bytes 0..31 and 40..511
///     40   472  payload, a pseudo-random stream of (seed, write id, sector)
/// </code>
/// The payload is not constant so that a sector torn between two writes of the same region
/// fails the checksum instead of looking whole. All fields are little-endian.
/// </summary>
public static class SectorHeader
{
    /// <summary>Identifies a checker sector.</summary>
    public const uint Magic = 0x4C4F5244;

    /// <summary>Offset of the write id.</summary>
    private const int WriteIdOffset = 8;

    /// <summary>Offset of the sector number.</summary>
    private const int SectorOffset = 16;

    /// <summary>Offset of the seed.</summary>
    private const int SeedOffset = 24;

    /// <summary>Offset of the checksum.</summary>
    private const int ChecksumOffset = 32;

    /// <summary>Offset of the payload: right after the checksum.</summary>
    private const int PayloadOffset = 40;

    /// <summary>Fills one sector with the header and payload of write <paramref name="writeId"/> at <paramref name="sector"/>.</summary>
    public static void Fill(Span<byte> destination, ulong seed, ulong writeId, ulong sector)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(destination.Length, BlockRequest.SectorSize);
        ArgumentOutOfRangeException.ThrowIfZero(writeId);
        Span<byte> s = destination[..BlockRequest.SectorSize];
        BinaryPrimitives.WriteUInt32LittleEndian(s, Magic);
        BinaryPrimitives.WriteUInt32LittleEndian(s[4..], 0);
        BinaryPrimitives.WriteUInt64LittleEndian(s[WriteIdOffset..], writeId);
        BinaryPrimitives.WriteUInt64LittleEndian(s[SectorOffset..], sector);
        BinaryPrimitives.WriteUInt64LittleEndian(s[SeedOffset..], seed);
        ulong state = Mix(seed ^ Mix(writeId ^ Mix(sector)));
        Span<byte> payload = s[PayloadOffset..];
        for (int i = 0; i < payload.Length; i += sizeof(ulong))
        {
            state += 0x9E3779B97F4A7C15UL; // the SplitMix64 increment (2^64 / golden ratio)
            BinaryPrimitives.WriteUInt64LittleEndian(payload[i..], Mix(state));
        }

        BinaryPrimitives.WriteUInt64LittleEndian(s[ChecksumOffset..], Checksum(s));
    }

    /// <summary>Fills <paramref name="sectorCount"/> consecutive sectors from <paramref name="firstSector"/> for one write.</summary>
    public static void FillRange(Span<byte> destination, ulong seed, ulong writeId, ulong firstSector, int sectorCount)
    {
        for (int i = 0; i < sectorCount; i++)
        {
            Fill(destination.Slice(i * BlockRequest.SectorSize, BlockRequest.SectorSize), seed, writeId, firstSector + (ulong)i);
        }
    }

    /// <summary>Decodes one sector found at <paramref name="sector"/> in a run with <paramref name="seed"/>.</summary>
    public static SectorValue Decode(ReadOnlySpan<byte> source, ulong seed, ulong sector)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(source.Length, BlockRequest.SectorSize);
        ReadOnlySpan<byte> s = source[..BlockRequest.SectorSize];
        if (!s.ContainsAnyExcept((byte)0))
        {
            return SectorValue.Zero;
        }

        ulong writeId = BinaryPrimitives.ReadUInt64LittleEndian(s[WriteIdOffset..]);
        if (BinaryPrimitives.ReadUInt32LittleEndian(s) != Magic ||
            BinaryPrimitives.ReadUInt64LittleEndian(s[ChecksumOffset..]) != Checksum(s) || writeId == 0)
        {
            return new SectorValue(writeId, SectorStatus.Torn);
        }

        if (BinaryPrimitives.ReadUInt64LittleEndian(s[SeedOffset..]) != seed)
        {
            return new SectorValue(writeId, SectorStatus.Foreign);
        }

        return BinaryPrimitives.ReadUInt64LittleEndian(s[SectorOffset..]) != sector
            ? new SectorValue(writeId, SectorStatus.Misplaced)
            : new SectorValue(writeId, SectorStatus.Valid);
    }

    /// <summary>The write id in a sector's header without checking it (0 when the sector is too short).</summary>
    public static ulong PeekWriteId(ReadOnlySpan<byte> source) =>
        source.Length >= PayloadOffset ? BinaryPrimitives.ReadUInt64LittleEndian(source[WriteIdOffset..]) : 0;

    /// <summary>A 64-bit checksum of a sector, skipping its own field. Not cryptographic: it only has to catch torn and stale sectors.</summary>
    private static ulong Checksum(ReadOnlySpan<byte> sector)
    {
        ReadOnlySpan<ulong> words = MemoryMarshal.Cast<byte, ulong>(sector[..BlockRequest.SectorSize]);
        const int checksumWord = ChecksumOffset / sizeof(ulong);
        ulong h = 0xCBF29CE484222325UL; // FNV-1a offset basis, any non-zero start would do
        for (int i = 0; i < words.Length; i++)
        {
            if (i != checksumWord)
            {
                h = Mix(h ^ (BitConverter.IsLittleEndian ? words[i] : BinaryPrimitives.ReverseEndianness(words[i])) ^ (ulong)i);
            }
        }

        return h;
    }

    /// <summary>The SplitMix64 finalizer: a cheap bijective mix with full avalanche.</summary>
    internal static ulong Mix(ulong z)
    {
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }
}
