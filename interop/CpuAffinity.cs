using System.Runtime.InteropServices;
using LoopOrder.Interop.Native;

namespace LoopOrder.Interop;

/// <summary>
/// Pins the calling OS thread to CPUs with sched_setaffinity(0, ...), which on Linux applies to
/// the calling thread only (pid 0 means "this task", and each thread is a task).
/// </summary>
/// <remarks>
/// Call it on a dedicated <see cref="Thread"/>, never on a thread-pool thread: the pin outlives
/// the work item and would follow unrelated work.
/// </remarks>
public static unsafe class CpuAffinity
{
    // glibc's cpu_set_t is 1024 bits; the kernel rejects a get whose mask is shorter than its
    // nr_cpu_ids (EINVAL), so the mask doubles until it fits, up to the kernel's CONFIG_NR_CPUS cap
    // of 8192 on x86-64.
    private const int InitialMaskBits = 1024;
    private const int MaxMaskBits = 8192;

    /// <summary>Restricts the calling thread to <paramref name="cpus"/>.</summary>
    /// <param name="cpus">CPU numbers (0-based); at least one.</param>
    /// <exception cref="ErrnoException">EINVAL when none of them is online or allowed.</exception>
    public static void SetCurrentThread(ReadOnlySpan<int> cpus)
    {
        if (cpus.IsEmpty)
        {
            throw new ArgumentException("At least one CPU is needed.", nameof(cpus));
        }

        int maxCpu = 0;
        foreach (int cpu in cpus)
        {
            ArgumentOutOfRangeException.ThrowIfNegative(cpu, nameof(cpus));
            ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(cpu, MaxMaskBits, nameof(cpus));
            maxCpu = Math.Max(maxCpu, cpu);
        }

        int words = Math.Max(InitialMaskBits, maxCpu + 1 + 63) / 64;
        ulong* mask = stackalloc ulong[words];
        new Span<ulong>(mask, words).Clear();
        foreach (int cpu in cpus)
        {
            mask[cpu / 64] |= 1UL << (cpu % 64);
        }

        if (Libc.sched_setaffinity(0, (nuint)(words * sizeof(ulong)), mask) != 0)
        {
            Errno errno = ErrnoExtensions.LastPInvokeError();
            ErrnoException.Throw(errno, "sched_setaffinity");
        }
    }

    /// <summary>The CPUs the calling thread may run on, ascending.</summary>
    public static int[] GetCurrentThreadAffinity()
    {
        // One stack block big enough for the largest mask; the size passed grows until it fits.
        ulong* mask = stackalloc ulong[MaxMaskBits / 64];
        for (int bits = InitialMaskBits; bits <= MaxMaskBits; bits *= 2)
        {
            int words = bits / 64;
            new Span<ulong>(mask, words).Clear();
            if (Libc.sched_getaffinity(0, (nuint)(words * sizeof(ulong)), mask) != 0)
            {
                Errno errno = ErrnoExtensions.LastPInvokeError();
                if (errno == Errno.EINVAL && bits < MaxMaskBits)
                {
                    continue;
                }

                ErrnoException.Throw(errno, "sched_getaffinity");
            }

            var cpus = new List<int>();
            for (int word = 0; word < words; word++)
            {
                ulong w = mask[word];
                while (w != 0)
                {
                    int bit = System.Numerics.BitOperations.TrailingZeroCount(w);
                    cpus.Add((word * 64) + bit);
                    w &= w - 1;
                }
            }

            return [.. cpus];
        }

        throw ErrnoException.FromErrno(Errno.EINVAL, "sched_getaffinity");
    }

    /// <summary>The CPU the calling thread is running on right now (a hint: it may move at once unless pinned).</summary>
    public static int GetCurrentCpu()
    {
        int cpu = Libc.sched_getcpu();
        if (cpu < 0)
        {
            Errno errno = ErrnoExtensions.LastPInvokeError();
            ErrnoException.Throw(errno, "sched_getcpu");
        }

        return cpu;
    }
}
