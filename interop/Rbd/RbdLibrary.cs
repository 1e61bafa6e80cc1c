using System.Runtime.InteropServices;

namespace LoopOrder.Interop.Rbd;

/// <summary>
/// Whether librbd and librados can be loaded. They are imported lazily (the runtime binds an
/// import on its first call), so a daemon runs on a machine without them; whoever serves an RBD
/// image asks here first and refuses with a clear message instead of a DllNotFoundException from
/// the middle of an open.
/// </summary>
public static class RbdLibrary
{
    private static readonly Lazy<string?> Checked = new(Check);

    /// <summary>Null when both libraries load; otherwise what is missing and which package brings it.</summary>
    public static string? Problem => Checked.Value;

    private static string? Check()
    {
        foreach ((string library, string package) in new[] { (LibRados.Name, "librados2"), (LibRbd.Name, "librbd1") })
        {
            if (!NativeLibrary.TryLoad(library, out nint handle))
            {
                return $"{package} is not installed ({library} cannot be loaded); install it (apt-get install {package}) to serve RBD images";
            }

            // Kept loaded: the imports bind to the same library.
            _ = handle;
        }

        return null;
    }
}
