namespace LoopOrder.Queues.Tracking;

/// <summary>
/// A bitmap of regions, one bit a region, in 64-bit words. Bits are set with Interlocked and read
/// with Volatile, so a reader without the tracker's lock may see a bit late (then it takes the
/// slow path) but never before whatever happened before it was set.
/// </summary>
public sealed class RegionMap
{
    private readonly long[] _words;

    /// <summary>An empty map of <paramref name="count"/> regions.</summary>
    public RegionMap(long count)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        Count = count;
        _words = new long[(count + 63) >> 6];
    }

    /// <summary>Regions in the map.</summary>
    public long Count { get; }

    /// <summary>Bytes of the map as stored: one bit a region, little-endian words, whole words.</summary>
    public int ByteLength => _words.Length * sizeof(long);

    /// <summary>Whether region <paramref name="region"/> is set.</summary>
    public bool Test(long region) => (Volatile.Read(ref _words[region >> 6]) & (1L << (int)(region & 63))) != 0;

    /// <summary>Whether every region from <paramref name="first"/> to <paramref name="last"/> (inclusive) is set.</summary>
    public bool TestAll(long first, long last)
    {
        for (long r = first; r <= last; r++)
        {
            if (!Test(r))
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>Sets region <paramref name="region"/>; true if it was clear.</summary>
    public bool Set(long region)
    {
        long bit = 1L << (int)(region & 63);
        return (Interlocked.Or(ref _words[region >> 6], bit) & bit) == 0;
    }

    /// <summary>The regions set, in order.</summary>
    public IEnumerable<long> SetRegions()
    {
        for (long r = 0; r < Count; r++)
        {
            if (Test(r))
            {
                yield return r;
            }
        }
    }

    /// <summary>Copies the map into <paramref name="destination"/> (at least <see cref="ByteLength"/> bytes).</summary>
    public void CopyTo(Span<byte> destination)
    {
        for (int i = 0; i < _words.Length; i++)
        {
            System.Buffers.Binary.BinaryPrimitives.WriteInt64LittleEndian(destination[(i * sizeof(long))..], Volatile.Read(ref _words[i]));
        }
    }

    /// <summary>Sets every bit that is set in <paramref name="source"/> (as <see cref="CopyTo"/> wrote it), for the regions both have.</summary>
    public void OrFrom(ReadOnlySpan<byte> source, long sourceCount)
    {
        long regions = Math.Min(Count, sourceCount);
        for (int i = 0; (long)i * 64 < regions; i++)
        {
            long word = System.Buffers.Binary.BinaryPrimitives.ReadInt64LittleEndian(source[(i * sizeof(long))..]);
            long valid = regions - ((long)i * 64);
            if (valid < 64)
            {
                word &= (1L << (int)valid) - 1;
            }

            Interlocked.Or(ref _words[i], word);
        }
    }

    /// <summary>Sets every bit set in <paramref name="other"/> (same size); calls <paramref name="newlySet"/> for each that was clear.</summary>
    public void OrFrom(RegionMap other, Action<long>? newlySet = null)
    {
        ArgumentNullException.ThrowIfNull(other);
        for (int i = 0; i < _words.Length; i++)
        {
            long add = Volatile.Read(ref other._words[i]);
            long before = Interlocked.Or(ref _words[i], add);
            long fresh = add & ~before;
            while (fresh != 0 && newlySet is not null)
            {
                int b = System.Numerics.BitOperations.TrailingZeroCount(fresh);
                newlySet(((long)i * 64) + b);
                fresh &= fresh - 1;
            }
        }
    }

    /// <summary>Makes this map equal to <paramref name="other"/> (same size). Not atomic as a whole: callers hold their lock.</summary>
    public void CopyFrom(RegionMap other)
    {
        ArgumentNullException.ThrowIfNull(other);
        for (int i = 0; i < _words.Length; i++)
        {
            Volatile.Write(ref _words[i], Volatile.Read(ref other._words[i]));
        }
    }

    /// <summary>Clears every bit. Not atomic as a whole: callers hold their lock, and no reader may rely on the bits meanwhile.</summary>
    public void Clear()
    {
        for (int i = 0; i < _words.Length; i++)
        {
            Volatile.Write(ref _words[i], 0);
        }
    }

    /// <summary>The set regions as runs of consecutive regions (first, count), in order.</summary>
    public IEnumerable<(long First, long Count)> Runs()
    {
        long start = -1;
        for (long r = 0; r < Count; r++)
        {
            if (Test(r))
            {
                if (start < 0)
                {
                    start = r;
                }
            }
            else if (start >= 0)
            {
                yield return (start, r - start);
                start = -1;
            }
        }

        if (start >= 0)
        {
            yield return (start, Count - start);
        }
    }
}
