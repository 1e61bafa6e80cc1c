using Microsoft.Win32.SafeHandles;

namespace LoopOrder.Interop.Rbd;

/// <summary>
/// A rados_ioctx_t: one pool on one cluster connection. It holds a reference on its connection,
/// so the connection is shut down only after this context is destroyed, whatever the order of
/// disposal (librados requires it).
/// </summary>
internal sealed class SafeRadosIoCtxHandle : SafeHandleZeroOrMinusOneIsInvalid
{
    private readonly SafeRadosHandle _cluster;

    /// <summary>Wraps a context rados_ioctx_create returned, and takes a reference on its connection.</summary>
    /// <param name="cluster">The connection.</param>
    /// <param name="ioctx">The rados_ioctx_t.</param>
    internal SafeRadosIoCtxHandle(SafeRadosHandle cluster, nint ioctx)
        : base(ownsHandle: true)
    {
        bool added = false;
        cluster.DangerousAddRef(ref added);
        _cluster = cluster;
        SetHandle(ioctx);
    }

    /// <inheritdoc />
    protected override bool ReleaseHandle()
    {
        LibRados.rados_ioctx_destroy(handle);
        _cluster.DangerousRelease();
        return true;
    }
}
