using Microsoft.Win32.SafeHandles;

namespace LoopOrder.Interop.Rbd;

/// <summary>A rados_t: one cluster connection, shut down exactly once, after every pool context on it.</summary>
internal sealed class SafeRadosHandle : SafeHandleZeroOrMinusOneIsInvalid
{
    /// <summary>Wraps a handle rados_create2 returned.</summary>
    /// <param name="cluster">The rados_t.</param>
    internal SafeRadosHandle(nint cluster)
        : base(ownsHandle: true) => SetHandle(cluster);

    /// <inheritdoc />
    protected override bool ReleaseHandle()
    {
        LibRados.rados_shutdown(handle);
        return true;
    }
}
