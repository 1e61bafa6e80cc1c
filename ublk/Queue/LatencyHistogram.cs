using System.Diagnostics;

namespace LoopOrder.Ublk.Queue;

/// <summary>
/// A fixed-size latency histogram: buckets of a quarter power of two of Stopwatch ticks, so a
/// percentile is within about 19% of the true value. Written by one thread with plain stores
/// (no allocation, no locks, no atomics on the I/O path); other threads read it racily through
/// <see cref="Snapshot"/>, which may tear between buckets and is good enough for statistics.
/// </summary>
public sealed class LatencyHistogram
{
    /// <summary>Sub-buckets per power of two.</summary>
    private const int SubBits = 2;

    /// <summary>64 powers of two × 4 sub-buckets covers every possible tick count.</summary>
    public const int BucketCount = 64 << SubBits;

    private readonly long[] _counts = new long[BucketCount];

    /// <summary>Records one latency in Stopwatch ticks. Owning thread only.</summary>
    /// <param name="ticks">The latency; negatives count as 0.</param>
    public void Record(long ticks) => _counts[BucketOf(ticks)]++;

    /// <summary>Copies the counts (racy, see the type remarks).</summary>
    public long[] Snapshot() => (long[])_counts.Clone();

    /// <summary>The bucket a latency falls in.</summary>
    /// <param name="ticks">Stopwatch ticks.</param>
    public static int BucketOf(long ticks)
    {
        if (ticks < (1 << SubBits))
        {
            return ticks <= 0 ? 0 : (int)ticks;
        }

        int log = 63 - (int)long.LeadingZeroCount(ticks);
        int sub = (int)(ticks >> (log - SubBits)) & ((1 << SubBits) - 1);
        return ((log - SubBits + 1) << SubBits) + sub;
    }

    /// <summary>The largest tick count that falls in <paramref name="bucket"/>.</summary>
    /// <param name="bucket">A bucket index.</param>
    public static long UpperBoundTicks(int bucket)
    {
        if (bucket < (1 << SubBits))
        {
            return bucket;
        }

        int log = (bucket >> SubBits) + SubBits - 1;
        long sub = bucket & ((1 << SubBits) - 1);
        long lower = (1L << log) + (sub << (log - SubBits));
        return log >= 62 && sub == 3 ? long.MaxValue : lower + (1L << (log - SubBits)) - 1;
    }

    /// <summary>
    /// The latency below which <paramref name="percentile"/> percent of the recorded values fall
    /// (the upper bound of the bucket holding that rank), or null when nothing was recorded.
    /// </summary>
    /// <param name="counts">Bucket counts, e.g. from <see cref="Snapshot"/>, possibly summed over queues.</param>
    /// <param name="percentile">0 to 100.</param>
    public static TimeSpan? Percentile(ReadOnlySpan<long> counts, double percentile)
    {
        long total = 0;
        foreach (long c in counts)
        {
            total += c;
        }

        if (total == 0)
        {
            return null;
        }

        long rank = Math.Max(1, (long)Math.Ceiling(total * Math.Clamp(percentile, 0, 100) / 100.0));
        long seen = 0;
        for (int b = 0; b < counts.Length; b++)
        {
            seen += counts[b];
            if (seen >= rank)
            {
                return TimeSpan.FromSeconds(UpperBoundTicks(b) / (double)Stopwatch.Frequency);
            }
        }

        return TimeSpan.FromSeconds(UpperBoundTicks(counts.Length - 1) / (double)Stopwatch.Frequency);
    }
}
