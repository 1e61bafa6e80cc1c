using LoopOrder.Queues.Ordering;
using LoopOrder.Queues.Targets.Nbd;
using LoopOrder.Queues.Tests.Backends;

namespace LoopOrder.Queues.Tests.Nbd;

/// <summary>An NBD export served through the whole engine (see <see cref="EngineDevice{TBackend}"/>).</summary>
internal sealed class NbdDevice(NbdBackendOptions options, OrderingMode mode = OrderingMode.Drain)
    : EngineDevice<NbdBackend>(NbdBackend.Open(options), mode, TimeSpan.FromSeconds(60))
{
    public static byte[] Pattern(int seed, int length)
    {
        byte[] b = new byte[length];
        for (int i = 0; i < length; i++)
        {
            b[i] = (byte)((i * 131) + (seed * 17) + 3);
        }

        return b;
    }
}
