using System.Runtime.InteropServices;

namespace LoopOrder.Interop.Rbd;

/// <summary>
/// librbd (Debian's librbd1): an image's open, size, exclusive lock and asynchronous I/O. Every
/// call returns 0 (or a byte count) or a negative errno. Loaded on first use (see <see cref="LibRados"/>).
/// </summary>
internal static unsafe partial class LibRbd
{
    internal const string Name = "librbd.so.1";

    /// <summary>rbd_lock_mode_t RBD_LOCK_MODE_EXCLUSIVE (librbd.h).</summary>
    internal const int RBD_LOCK_MODE_EXCLUSIVE = 0;

    /// <summary>RBD_FEATURE_EXCLUSIVE_LOCK (rbd/features.h).</summary>
    internal const ulong RBD_FEATURE_EXCLUSIVE_LOCK = 1UL << 2;

    // int rbd_open(rados_ioctx_t io, const char *name, rbd_image_t *image, const char *snap_name)
    [LibraryImport(Name, StringMarshalling = StringMarshalling.Utf8)]
    internal static partial int rbd_open(nint ioctx, string name, out nint image, string? snapName);

    // int rbd_open_read_only(rados_ioctx_t io, const char *name, rbd_image_t *image, const char *snap_name)
    [LibraryImport(Name, StringMarshalling = StringMarshalling.Utf8)]
    internal static partial int rbd_open_read_only(nint ioctx, string name, out nint image, string? snapName);

    // int rbd_close(rbd_image_t image)
    [LibraryImport(Name)]
    internal static partial int rbd_close(nint image);

    // int rbd_get_size(rbd_image_t image, uint64_t *size)
    [LibraryImport(Name)]
    internal static partial int rbd_get_size(nint image, out ulong size);

    // int rbd_get_features(rbd_image_t image, uint64_t *features)
    [LibraryImport(Name)]
    internal static partial int rbd_get_features(nint image, out ulong features);

    // int rbd_lock_acquire(rbd_image_t image, rbd_lock_mode_t lock_mode)
    [LibraryImport(Name)]
    internal static partial int rbd_lock_acquire(nint image, int lockMode);

    // int rbd_lock_release(rbd_image_t image)
    [LibraryImport(Name)]
    internal static partial int rbd_lock_release(nint image);

    // int rbd_is_exclusive_lock_owner(rbd_image_t image, int *is_owner)
    [LibraryImport(Name)]
    internal static partial int rbd_is_exclusive_lock_owner(nint image, out int isOwner);

    // int rbd_aio_create_completion(void *cb_arg, rbd_callback_t complete_cb, rbd_completion_t *c);
    // rbd_callback_t is void (*)(rbd_completion_t cb, void *arg).
    [LibraryImport(Name)]
    internal static partial int rbd_aio_create_completion(nint callbackArgument, delegate* unmanaged<nint, nint, void> callback, out nint completion);

    // ssize_t rbd_aio_get_return_value(rbd_completion_t c)
    [LibraryImport(Name)]
    internal static partial nint rbd_aio_get_return_value(nint completion);

    // void rbd_aio_release(rbd_completion_t c)
    [LibraryImport(Name)]
    internal static partial void rbd_aio_release(nint completion);

    // int rbd_aio_read(rbd_image_t image, uint64_t off, size_t len, char *buf, rbd_completion_t c)
    [LibraryImport(Name)]
    internal static partial int rbd_aio_read(nint image, ulong offset, nuint length, nint buffer, nint completion);

    // int rbd_aio_write(rbd_image_t image, uint64_t off, size_t len, const char *buf, rbd_completion_t c)
    [LibraryImport(Name)]
    internal static partial int rbd_aio_write(nint image, ulong offset, nuint length, nint buffer, nint completion);

    // int rbd_aio_discard(rbd_image_t image, uint64_t off, uint64_t len, rbd_completion_t c)
    [LibraryImport(Name)]
    internal static partial int rbd_aio_discard(nint image, ulong offset, ulong length, nint completion);

    // int rbd_aio_write_zeroes(rbd_image_t image, uint64_t off, size_t len, rbd_completion_t c, int zero_flags, int op_flags)
    [LibraryImport(Name)]
    internal static partial int rbd_aio_write_zeroes(nint image, ulong offset, nuint length, nint completion, int zeroFlags, int opFlags);

    // int rbd_aio_flush(rbd_image_t image, rbd_completion_t c)
    [LibraryImport(Name)]
    internal static partial int rbd_aio_flush(nint image, nint completion);

    // int rbd_resize(rbd_image_t image, uint64_t size)
    [LibraryImport(Name)]
    internal static partial int rbd_resize(nint image, ulong size);

    // int rbd_update_watch(rbd_image_t image, uint64_t *handle, rbd_update_callback_t watch_cb, void *arg);
    // rbd_update_callback_t is void (*)(void *arg).
    [LibraryImport(Name)]
    internal static partial int rbd_update_watch(nint image, out ulong handle, delegate* unmanaged<nint, void> callback, nint argument);

    // int rbd_update_unwatch(rbd_image_t image, uint64_t handle)
    [LibraryImport(Name)]
    internal static partial int rbd_update_unwatch(nint image, ulong handle);

    /// <summary>rbd_config_option_t (librbd.h): char *name, char *value, rbd_config_source_t source.</summary>
    [StructLayout(LayoutKind.Sequential)]
    internal struct rbd_config_option_t
    {
        public nint name;
        public nint value;
        public int source;
    }

    // int rbd_config_image_list(rbd_image_t image, rbd_config_option_t *options, int *max_options)
    // -ERANGE (and the count needed in *max_options) when the array is too small.
    [LibraryImport(Name)]
    internal static partial int rbd_config_image_list(nint image, rbd_config_option_t* options, ref int maxOptions);

    // void rbd_config_image_list_cleanup(rbd_config_option_t *options, int max_options)
    [LibraryImport(Name)]
    internal static partial void rbd_config_image_list_cleanup(rbd_config_option_t* options, int maxOptions);
}
