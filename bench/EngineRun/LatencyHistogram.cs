using System.Numerics;

namespace LoopOrder.Bench.EngineRun;

/// <summary>
/// A log-linear latency histogram in nanoseconds: 32 buckets per power of two, so any percentile
/// is within about 3% (1/32) of the true value, in a fixed array: recording allocates nothing and
/// is safe from several threads.
/// </summary>
internal sealed class LatencyHistogram
{
    /// <summary>log2 of the buckets per power of two: 5 gives 32 buckets, 3% resolution.</summary>
    private const int SubBits = 5;

    private const int SubBuckets = 1 << SubBits;

    /// <summary>Groups: one for 0..31 ns, then one per power of two up to 2^63.</summary>
    private const int Groups = 64 - SubBits + 1;

    private readonly long[] _counts = new long[Groups * SubBuckets];

    /// <summary>Records one latency.</summary>
    public void Record(long nanoseconds)
    {
        long v = Math.Max(nanoseconds, 0);
        int index;
        if (v < SubBuckets)
        {
            index = (int)v;
        }
        else
        {
            int shift = BitOperations.Log2((ulong)v) - SubBits;
            index = ((shift + 1) << SubBits) + (int)((v >> shift) & (SubBuckets - 1));
        }

        Interlocked.Increment(ref _counts[index]);
    }

    /// <summary>Recorded values.</summary>
    public long Count => _counts.Sum();

    /// <summary>The value at percentile <paramref name="p"/> (0-100), in nanoseconds (bucket midpoint); 0 when empty.</summary>
    public double Percentile(double p)
    {
        long total = Count;
        if (total == 0)
        {
            return 0;
        }

        long rank = Math.Max(1, (long)Math.Ceiling(total * p / 100));
        long seen = 0;
        for (int i = 0; i < _counts.Length; i++)
        {
            seen += _counts[i];
            if (seen >= rank)
            {
                return Midpoint(i);
            }
        }

        return Midpoint(_counts.Length - 1);
    }

    private static double Midpoint(int index)
    {
        int group = index >> SubBits;
        int sub = index & (SubBuckets - 1);
        if (group == 0)
        {
            return sub;
        }

        int shift = group - 1;
        double low = (double)(SubBuckets + sub) * Math.Pow(2, shift);
        return low + (Math.Pow(2, shift) / 2);
    }
}
