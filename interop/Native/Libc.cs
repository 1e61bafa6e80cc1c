namespace LoopOrder.Interop.Native;

/// <summary>
/// Raw libc entry points, one call family a file (Libc.File.cs, Libc.Mman.cs, ...).
/// </summary>
/// <remarks>
/// Every import is blittable and source-generated; wrappers elsewhere in this assembly read errno
/// (<see cref="System.Runtime.InteropServices.Marshal.GetLastPInvokeError"/>) on the very next
/// line after the call, before anything else can run and overwrite it. "libc" resolves to
/// libc.so.6: the runtime maps that name specially, because libc.so itself is a linker script.
/// </remarks>
internal static partial class Libc
{
    internal const string Name = "libc";
}
