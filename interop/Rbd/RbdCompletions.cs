using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace LoopOrder.Interop.Rbd;

/// <summary>
/// librbd's completion callback and the table it finds its sinks in. A request's cb_arg is a
/// number, not a GCHandle: the sink's index here in the high 32 bits and the sink's own slot in
/// the low 32, so starting a request allocates nothing managed (librbd allocates its own
/// completion) and the callback needs no handle to free.
/// </summary>
public static class RbdCompletions
{
    private static readonly object Gate = new();
    private static IRbdCompletionSink?[] _sinks = new IRbdCompletionSink?[16];

    /// <summary>Registers <paramref name="sink"/> and returns its index, for <see cref="RbdImage"/>'s aio starts.</summary>
    /// <param name="sink">The sink, until <see cref="Unregister"/>.</param>
    public static int Register(IRbdCompletionSink sink)
    {
        ArgumentNullException.ThrowIfNull(sink);
        lock (Gate)
        {
            int i = Array.IndexOf(_sinks, null);
            if (i < 0)
            {
                // A new array, the old entries copied: a callback reading the old one still finds them.
                i = _sinks.Length;
                var grown = new IRbdCompletionSink?[i * 2];
                Array.Copy(_sinks, grown, i);
                Volatile.Write(ref _sinks, grown);
            }

            _sinks[i] = sink;
            return i;
        }
    }

    /// <summary>Frees index <paramref name="index"/>; no request of its sink may be in flight.</summary>
    /// <param name="index">What <see cref="Register"/> returned.</param>
    public static void Unregister(int index)
    {
        lock (Gate)
        {
            _sinks[index] = null;
        }
    }

    /// <summary>The callback argument for slot <paramref name="slot"/> of sink <paramref name="sink"/>.</summary>
    internal static nint Argument(int sink, int slot) => (nint)(((long)sink << 32) | (uint)slot);

    /// <summary>librbd's rbd_callback_t, on a librbd thread: the result, the completion released, the sink told.</summary>
    [UnmanagedCallersOnly]
    internal static void Completed(nint completion, nint argument)
    {
        try
        {
            long result = LibRbd.rbd_aio_get_return_value(completion);
            LibRbd.rbd_aio_release(completion);
            long packed = argument;
            IRbdCompletionSink? sink = Volatile.Read(ref _sinks)[(int)(packed >> 32)];
            sink?.RbdCompleted((int)(uint)packed, result);
        }
        catch (Exception e)
        {
            // Nothing may unwind into librbd; a sink that throws is a bug, and a lost completion
            // would hang its request for good.
            Environment.FailFast("an RBD completion failed", e);
        }
    }
}
