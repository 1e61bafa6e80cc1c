using LoopOrder.Interop.Rbd;
using LoopOrder.Queues.Ordering;
using LoopOrder.Queues.Targets.Rbd;
using LoopOrder.Queues.Tests.Backends;

namespace LoopOrder.Queues.Tests.Rbd;

/// <summary>An RBD image served through the whole engine (see <see cref="EngineDevice{TBackend}"/>).</summary>
internal sealed class RbdDevice(RbdBackendOptions options, OrderingMode mode = OrderingMode.Drain)
    : EngineDevice<RbdBackend>(RbdBackend.Open(options), mode, TimeSpan.FromSeconds(120))
{
    public static RbdBackendOptions Options(CephTestCluster c, string image, int timeoutSeconds = 30, bool readOnly = false) => new()
    {
        Image = new RbdOpenOptions
        {
            ConfPath = c.Conf,
            Pool = CephTestCluster.Pool,
            Image = image,
            Timeout = TimeSpan.FromSeconds(timeoutSeconds),
            ReadOnly = readOnly,
        },
    };
}
