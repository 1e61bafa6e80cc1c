using System.Diagnostics.CodeAnalysis;
using System.Runtime.InteropServices;

namespace LoopOrder.Interop.Uring;

/// <summary>struct __kernel_timespec (include/uapi/linux/time_types.h): 64-bit seconds and nanoseconds, 16 bytes.</summary>
[StructLayout(LayoutKind.Explicit, Size = 16)]
[SuppressMessage("Style", "IDE1006:Naming Styles", Justification = "Kernel struct keeps its kernel names.")]
public struct KernelTimespec
{
    /// <summary>Seconds.</summary>
    [FieldOffset(0)] public long tv_sec;
    /// <summary>Nanoseconds, 0..999,999,999.</summary>
    [FieldOffset(8)] public long tv_nsec;

    /// <summary>Converts a duration.</summary>
    /// <param name="duration">Non-negative.</param>
    public static KernelTimespec FromTimeSpan(TimeSpan duration)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(duration, TimeSpan.Zero);
        long ticks = duration.Ticks;
        return new KernelTimespec
        {
            tv_sec = ticks / TimeSpan.TicksPerSecond,
            tv_nsec = ticks % TimeSpan.TicksPerSecond * 100,
        };
    }
}
