using Microsoft.Win32.SafeHandles;

namespace LoopOrder.Interop.Rbd;

/// <summary>
/// An rbd_image_t: one open image. It holds a reference on its pool context, so the context (and
/// the connection under it) outlive the image. rbd_close waits for the image's outstanding
/// asynchronous requests and releases its exclusive lock.
/// </summary>
internal sealed class SafeRbdImageHandle : SafeHandleZeroOrMinusOneIsInvalid
{
    private readonly SafeRadosIoCtxHandle _ioctx;

    /// <summary>Wraps an image rbd_open returned, and takes a reference on its pool context.</summary>
    /// <param name="ioctx">The pool context.</param>
    /// <param name="image">The rbd_image_t.</param>
    internal SafeRbdImageHandle(SafeRadosIoCtxHandle ioctx, nint image)
        : base(ownsHandle: true)
    {
        bool added = false;
        ioctx.DangerousAddRef(ref added);
        _ioctx = ioctx;
        SetHandle(image);
    }

    /// <inheritdoc />
    protected override bool ReleaseHandle()
    {
        // A close that fails (a flush of librbd's state to a lost cluster) still frees the image.
        _ = LibRbd.rbd_close(handle);
        _ioctx.DangerousRelease();
        return true;
    }
}
