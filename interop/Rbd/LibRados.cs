using System.Runtime.InteropServices;

namespace LoopOrder.Interop.Rbd;

/// <summary>
/// librados (Debian's librados2): the cluster connection and pool contexts librbd runs on. Every
/// call returns 0 or a negative errno (librados does not use errno itself). Loaded on first use,
/// so a daemon on a machine without librados2 runs until something asks for an RBD image
/// (<see cref="RbdLibrary.Problem"/> says so first).
/// </summary>
internal static unsafe partial class LibRados
{
    internal const string Name = "librados.so.2";

    // int rados_create2(rados_t *pcluster, const char *clustername, const char *name, uint64_t flags)
    [LibraryImport(Name, StringMarshalling = StringMarshalling.Utf8)]
    internal static partial int rados_create2(out nint cluster, string clusterName, string name, ulong flags);

    // int rados_conf_read_file(rados_t cluster, const char *path)
    [LibraryImport(Name, StringMarshalling = StringMarshalling.Utf8)]
    internal static partial int rados_conf_read_file(nint cluster, string path);

    // int rados_conf_set(rados_t cluster, const char *option, const char *value)
    [LibraryImport(Name, StringMarshalling = StringMarshalling.Utf8)]
    internal static partial int rados_conf_set(nint cluster, string option, string value);

    // int rados_conf_get(rados_t cluster, const char *option, char *buf, size_t len)
    [LibraryImport(Name, StringMarshalling = StringMarshalling.Utf8)]
    internal static partial int rados_conf_get(nint cluster, string option, byte* buffer, nuint length);

    // int rados_connect(rados_t cluster)
    [LibraryImport(Name)]
    internal static partial int rados_connect(nint cluster);

    // void rados_shutdown(rados_t cluster)
    [LibraryImport(Name)]
    internal static partial void rados_shutdown(nint cluster);

    // int rados_ioctx_create(rados_t cluster, const char *pool_name, rados_ioctx_t *ioctx)
    [LibraryImport(Name, StringMarshalling = StringMarshalling.Utf8)]
    internal static partial int rados_ioctx_create(nint cluster, string poolName, out nint ioctx);

    // void rados_ioctx_destroy(rados_ioctx_t io)
    [LibraryImport(Name)]
    internal static partial void rados_ioctx_destroy(nint ioctx);
}
