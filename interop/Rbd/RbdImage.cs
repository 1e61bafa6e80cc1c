using System.Globalization;
using System.Runtime.InteropServices;

namespace LoopOrder.Interop.Rbd;

/// <summary>
/// One open RBD image with its own cluster connection (rados_t, the pool's rados_ioctx_t, the
/// rbd_image_t), and librbd's asynchronous I/O on it. Requests complete on librbd's threads
/// through <see cref="RbdCompletions"/>.
/// </summary>
/// <remarks>
/// A failed open throws <see cref="ErrnoException"/> whose <see cref="ErrnoException.Operation"/>
/// names the step ("rados_conf_read_file", "rados_connect", "rados_ioctx_create", "rbd_open"),
/// so a caller can tell wrong credentials (rados_connect: EACCES/EPERM) from a missing pool
/// (rados_ioctx_create: ENOENT) or image (rbd_open: ENOENT) and a cluster that does not answer
/// (rados_connect: ETIMEDOUT); nothing stays open.
/// </remarks>
public sealed unsafe class RbdImage : IDisposable
{
    private readonly SafeRbdImageHandle _image;
    private readonly nint _raw;

    /// <summary>The update watch's handle (<see cref="WatchUpdates"/>), while <see cref="_watchTarget"/> is allocated.</summary>
    private ulong _watchHandle;

    /// <summary>What the update watch calls: the callback's argument, freed after rbd_update_unwatch.</summary>
    private GCHandle _watchTarget;

    private RbdImage(SafeRbdImageHandle image, ulong size, ulong features, string cache)
    {
        _image = image;
        _raw = image.DangerousGetHandle();
        Size = (long)size;
        Features = features;
        CacheSetting = cache;
    }

    /// <summary>The image's size in bytes when it was opened.</summary>
    public long Size { get; }

    /// <summary>The image's size now (rbd_get_size: librbd refreshes the image's header first when a peer changed it).</summary>
    /// <exception cref="ErrnoException">rbd_get_size failed.</exception>
    public long CurrentSize
    {
        get
        {
            Check(LibRbd.rbd_get_size(_raw, out ulong size), "rbd_get_size", "image");
            return (long)size;
        }
    }

    /// <summary>The image's feature bits (RBD_FEATURE_*).</summary>
    public ulong Features { get; }

    /// <summary>True when the image has the exclusive-lock feature, without which two clients cannot be kept apart.</summary>
    public bool HasExclusiveLock => (Features & LibRbd.RBD_FEATURE_EXCLUSIVE_LOCK) != 0;

    /// <summary>librbd's rbd_cache as the connection read it back ("false", "true").</summary>
    public string CacheSetting { get; }

    /// <summary>
    /// True unless librbd's own caches are off for this image as it was opened (the effective
    /// configuration, pool and image overrides applied: rbd_cache false, and no persistent
    /// write-log cache): then a write librbd completed is on the OSDs, and a flush has nothing to
    /// write back. True too when the configuration cannot be read.
    /// </summary>
    public bool HasVolatileCache { get; private set; } = true;

    /// <summary>What the effective configuration says of the caches ("rbd_cache=false, ..."), for the log.</summary>
    public string CacheConfiguration { get; private set; } = "unknown";

    /// <summary>Connects to the cluster and opens the image (see the remarks for failures).</summary>
    /// <param name="options">What to open.</param>
    /// <exception cref="ErrnoException">A step failed; nothing stays open.</exception>
    public static RbdImage Open(RbdOpenOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        int r = LibRados.rados_create2(out nint raw, "ceph", "client." + options.ClientId, 0);
        Check(r, "rados_create2", "client." + options.ClientId);
        using var cluster = new SafeRadosHandle(raw);
        Check(LibRados.rados_conf_read_file(raw, options.ConfPath), "rados_conf_read_file", options.ConfPath);
        if (options.KeyringPath is { } keyring)
        {
            Set(raw, "keyring", keyring);
        }

        if (options.Timeout > TimeSpan.Zero)
        {
            string seconds = Math.Max(1, (long)Math.Ceiling(options.Timeout.TotalSeconds)).ToString(CultureInfo.InvariantCulture);
            Set(raw, "rados_osd_op_timeout", seconds);
            Set(raw, "rados_mon_op_timeout", seconds);
            Set(raw, "client_mount_timeout", seconds);
        }

        Set(raw, "rbd_cache", options.Cache ? "true" : "false");
        string cache = Get(raw, "rbd_cache");

        // librados logs to stderr unless told otherwise; the daemon's own log says what failed.
        Set(raw, "log_to_stderr", "false");
        Set(raw, "err_to_stderr", "false");
        Check(LibRados.rados_connect(raw), "rados_connect", options.ConfPath);
        Check(LibRados.rados_ioctx_create(raw, options.Pool, out nint rawIoctx), "rados_ioctx_create", options.Pool);
        using var ioctx = new SafeRadosIoCtxHandle(cluster, rawIoctx);
        string name = options.Pool + "/" + options.Image;
        nint rawImage;
        r = options.ReadOnly
            ? LibRbd.rbd_open_read_only(rawIoctx, options.Image, out rawImage, null)
            : LibRbd.rbd_open(rawIoctx, options.Image, out rawImage, null);
        Check(r, "rbd_open", name);

        // The image handle holds the context, which holds the connection: disposing ours leaves them alive.
        var image = new SafeRbdImageHandle(ioctx, rawImage);
        try
        {
            Check(LibRbd.rbd_get_size(rawImage, out ulong size), "rbd_get_size", name);
            Check(LibRbd.rbd_get_features(rawImage, out ulong features), "rbd_get_features", name);
            var opened = new RbdImage(image, size, features, cache);
            opened.ReadCacheConfiguration();
            return opened;
        }
        catch
        {
            image.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Takes the image's exclusive lock for this client and keeps it: a peer asking for it is
    /// refused (librbd's standard policy once rbd_lock_acquire was called). <see cref="Errno.None"/>,
    /// or EROFS/EBUSY while another client holds it, EINVAL without the exclusive-lock feature.
    /// </summary>
    public Errno TryAcquireExclusiveLock() => Result(LibRbd.rbd_lock_acquire(_raw, LibRbd.RBD_LOCK_MODE_EXCLUSIVE));

    /// <summary>The image's effective configuration (rbd_config_image_list), name to value; empty when librbd cannot list it.</summary>
    public IReadOnlyDictionary<string, string> EffectiveConfiguration()
    {
        var values = new Dictionary<string, string>(StringComparer.Ordinal);
        int max = 512;
        while (true)
        {
            var options = new LibRbd.rbd_config_option_t[max];
            int n = max;
            int r;
            fixed (LibRbd.rbd_config_option_t* p = options)
            {
                r = LibRbd.rbd_config_image_list(_raw, p, ref n);
                if (r >= 0)
                {
                    for (int i = 0; i < n; i++)
                    {
                        string? key = Marshal.PtrToStringUTF8(p[i].name);
                        if (key is not null)
                        {
                            values[key] = Marshal.PtrToStringUTF8(p[i].value) ?? "";
                        }
                    }

                    LibRbd.rbd_config_image_list_cleanup(p, n);
                    return values;
                }
            }

            if (r != -(int)Errno.ERANGE || n <= max)
            {
                return values;
            }

            max = n;
        }
    }

    /// <summary>Sets the image's size (rbd_resize; shrinking deletes what lies past the new end).</summary>
    /// <param name="size">The new size in bytes.</param>
    /// <exception cref="ErrnoException">rbd_resize failed (EROFS: another client holds the lock; nothing changed).</exception>
    public void Resize(long size)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(size);
        Check(LibRbd.rbd_resize(_raw, (ulong)size), "rbd_resize", size.ToString(CultureInfo.InvariantCulture) + " bytes");
    }

    /// <summary>
    /// Calls <paramref name="changed"/> on a librbd thread whenever the image's header changes (a
    /// resize, by this client or another, a snapshot, a lock change), until the image is disposed.
    /// The callback must not block: librbd's notifications wait for it. One watch an image.
    /// </summary>
    /// <param name="changed">What to call.</param>
    /// <exception cref="InvalidOperationException">The image is already watched.</exception>
    /// <exception cref="ErrnoException">rbd_update_watch failed.</exception>
    public void WatchUpdates(Action changed)
    {
        ArgumentNullException.ThrowIfNull(changed);
        if (_watchTarget.IsAllocated)
        {
            throw new InvalidOperationException("The image is already watched.");
        }

        var target = GCHandle.Alloc(changed);
        int r = LibRbd.rbd_update_watch(_raw, out ulong handle, &Updated, GCHandle.ToIntPtr(target));
        if (r < 0)
        {
            target.Free();
            Check(r, "rbd_update_watch", "image");
        }

        _watchHandle = handle;
        _watchTarget = target;
    }

    /// <summary>True while this client holds the exclusive lock.</summary>
    public bool IsLockOwner => LibRbd.rbd_is_exclusive_lock_owner(_raw, out int owner) == 0 && owner != 0;

    /// <summary>Starts a read into <paramref name="buffer"/>; the result goes to sink <paramref name="sink"/>, slot <paramref name="slot"/>.</summary>
    /// <param name="offset">Byte offset.</param>
    /// <param name="length">Bytes.</param>
    /// <param name="buffer">Native memory that stays valid until the completion.</param>
    /// <param name="sink">An index from <see cref="RbdCompletions.Register"/>.</param>
    /// <param name="slot">The sink's slot.</param>
    /// <returns><see cref="Errno.None"/> when started; otherwise why not (no completion will come).</returns>
    public Errno StartRead(long offset, int length, nint buffer, int sink, int slot)
    {
        nint c = Completion(sink, slot, out Errno e);
        return e != Errno.None ? e : Started(LibRbd.rbd_aio_read(_raw, (ulong)offset, (nuint)length, buffer, c), c);
    }

    /// <summary>Starts a write from <paramref name="buffer"/> (see <see cref="StartRead"/>).</summary>
    /// <param name="offset">Byte offset.</param>
    /// <param name="length">Bytes.</param>
    /// <param name="buffer">Native memory that stays valid until the completion.</param>
    /// <param name="sink">An index from <see cref="RbdCompletions.Register"/>.</param>
    /// <param name="slot">The sink's slot.</param>
    /// <returns><see cref="Errno.None"/> when started.</returns>
    public Errno StartWrite(long offset, int length, nint buffer, int sink, int slot)
    {
        nint c = Completion(sink, slot, out Errno e);
        return e != Errno.None ? e : Started(LibRbd.rbd_aio_write(_raw, (ulong)offset, (nuint)length, buffer, c), c);
    }

    /// <summary>Starts a discard: librbd deallocates what it can and zeroes the rest, so the range reads back as zeros.</summary>
    /// <param name="offset">Byte offset.</param>
    /// <param name="length">Bytes.</param>
    /// <param name="sink">An index from <see cref="RbdCompletions.Register"/>.</param>
    /// <param name="slot">The sink's slot.</param>
    /// <returns><see cref="Errno.None"/> when started.</returns>
    public Errno StartDiscard(long offset, long length, int sink, int slot)
    {
        nint c = Completion(sink, slot, out Errno e);
        return e != Errno.None ? e : Started(LibRbd.rbd_aio_discard(_raw, (ulong)offset, (ulong)length, c), c);
    }

    /// <summary>Starts a write of zeros (librbd may deallocate whole objects for it).</summary>
    /// <param name="offset">Byte offset.</param>
    /// <param name="length">Bytes.</param>
    /// <param name="sink">An index from <see cref="RbdCompletions.Register"/>.</param>
    /// <param name="slot">The sink's slot.</param>
    /// <returns><see cref="Errno.None"/> when started.</returns>
    public Errno StartWriteZeroes(long offset, int length, int sink, int slot)
    {
        nint c = Completion(sink, slot, out Errno e);
        return e != Errno.None ? e : Started(LibRbd.rbd_aio_write_zeroes(_raw, (ulong)offset, (nuint)length, c, 0, 0), c);
    }

    /// <summary>Starts a flush: completes once every write that completed before it is on the OSDs (librbd's cache written back, when on).</summary>
    /// <param name="sink">An index from <see cref="RbdCompletions.Register"/>.</param>
    /// <param name="slot">The sink's slot.</param>
    /// <returns><see cref="Errno.None"/> when started.</returns>
    public Errno StartFlush(int sink, int slot)
    {
        nint c = Completion(sink, slot, out Errno e);
        return e != Errno.None ? e : Started(LibRbd.rbd_aio_flush(_raw, c), c);
    }

    /// <summary>Ends the update watch (waiting for a callback under way), closes the image (waiting for its outstanding requests), releases its lock, and disconnects.</summary>
    public void Dispose()
    {
        if (_watchTarget.IsAllocated && !_image.IsClosed)
        {
            // A failure leaves nothing to undo: closing the image drops the watch as well.
            _ = LibRbd.rbd_update_unwatch(_raw, _watchHandle);
        }

        _image.Dispose();
        if (_watchTarget.IsAllocated)
        {
            _watchTarget.Free();
        }
    }

    private void ReadCacheConfiguration()
    {
        IReadOnlyDictionary<string, string> c = EffectiveConfiguration();
        if (!c.TryGetValue("rbd_cache", out string? cache))
        {
            return;
        }

        // The persistent write-log cache (librbd 16+) is a plugin: on only when rbd_plugins loads
        // pwl_cache and a mode other than disabled is set.
        string plugins = c.TryGetValue("rbd_plugins", out string? p) ? p : "";
        string pwl = c.TryGetValue("rbd_persistent_cache_mode", out string? m) ? m : "disabled";
        bool pwlOn = plugins.Contains("pwl_cache", StringComparison.Ordinal) && pwl != "disabled";
        HasVolatileCache = cache != "false" || pwlOn;
        CacheConfiguration = $"rbd_cache={cache}, rbd_plugins={(plugins.Length == 0 ? "(none)" : plugins)}, rbd_persistent_cache_mode={pwl}";
    }

    /// <summary>librbd's rbd_update_callback_t, on a librbd thread.</summary>
    [UnmanagedCallersOnly]
    private static void Updated(nint argument)
    {
        try
        {
            ((Action)GCHandle.FromIntPtr(argument).Target!)();
        }
        catch (Exception e)
        {
            // Nothing may unwind into librbd.
            Environment.FailFast("an RBD update callback failed", e);
        }
    }

    private static nint Completion(int sink, int slot, out Errno errno)
    {
        int r = LibRbd.rbd_aio_create_completion(RbdCompletions.Argument(sink, slot), &RbdCompletions.Completed, out nint c);
        errno = Result(r);
        return c;
    }

    private static Errno Started(int r, nint completion)
    {
        if (r >= 0)
        {
            return Errno.None;
        }

        // Not started: librbd will not call back, and the completion is ours to free.
        LibRbd.rbd_aio_release(completion);
        return (Errno)(-r);
    }

    private static Errno Result(int r) => r >= 0 ? Errno.None : (Errno)(-r);

    private static void Check(int r, string operation, string subject)
    {
        if (r < 0)
        {
            throw ErrnoException.FromErrno((Errno)(-r), operation, subject);
        }
    }

    private static void Set(nint cluster, string option, string value) =>
        Check(LibRados.rados_conf_set(cluster, option, value), "rados_conf_set", option + "=" + value);

    private static string Get(nint cluster, string option)
    {
        byte* buffer = stackalloc byte[64];
        int r = LibRados.rados_conf_get(cluster, option, buffer, 64);
        Check(r, "rados_conf_get", option);
        return new string((sbyte*)buffer);
    }
}
