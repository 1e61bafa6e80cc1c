using LoopOrder.Interop;
using LoopOrder.Interop.Rbd;
using LoopOrder.Queues.Backends;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace LoopOrder.Queues.Targets.Rbd;

/// <summary>
/// An RBD image as a device's storage, through librbd: each worker thread gets its own
/// <see cref="RbdExecutor"/>, all on one connection and one open image that holds the image's
/// exclusive lock for as long as the device is served.
/// </summary>
/// <remarks>
/// <para>Flush. The Sequencer hands a flush over only after every write received before it has
/// completed (drain, strict). librbd's own cache is off (rbd_cache = false, set on the connection
/// whatever ceph.conf says), so a write completes only once the OSDs committed it: with no
/// volatile layer left under the completed writes, the flush completes at once, as the kernel's
/// rbd client treats one. rbd_aio_flush is sent only where the image's effective configuration
/// turns a cache back on (a pool or image override of rbd_cache, a persistent write-log cache):
/// <see cref="FlushNeeded"/>. Sending it anyway would cost a round through librbd that also waits
/// for every write sent after the device's flush (librbd's flush covers all it has in flight).</para>
/// <para>Latched errors, as for a file's fdatasync: once a flush or a FUA write fails, every
/// later flush fails with EIO until the device is deleted (the Sequencer latches failed writes
/// itself).</para>
/// <para>Faults. librbd reconnects to monitors and resends to OSDs on its own; a request that the
/// cluster does not answer within the timeout (rados_osd_op_timeout) fails with EIO, never a
/// silent success, and the device serves again once the cluster is back. A write that failed
/// may still land later (the OSD may have it): the Sequencer's latch makes every later flush fail,
/// so the guest knows nothing since its last good flush is promised.</para>
/// </remarks>
public sealed partial class RbdBackend : IResizableBackend, IExternallyResizable
{
    private readonly RbdBackendOptions _options;
    private readonly ILogger _logger;
    private int _flushLatched;
    private int _failureLogged;
    private long _flushesSent;

    /// <summary>The size served, changed by <see cref="Resize"/> and <see cref="Follow"/>.</summary>
    private long _length;

    /// <summary>1 while a <see cref="StorageResized"/> is queued to the thread pool and not yet raised: librbd's burst of notifications becomes one.</summary>
    private int _resizeQueued;

    private RbdBackend(RbdBackendOptions options, RbdImage image)
    {
        _options = options;
        _logger = options.Logger ?? NullLogger.Instance;
        Image = image;
        _length = (options.Size ?? image.Size) / 512 * 512;
        IsReadOnly = options.Image.ReadOnly;
    }

    /// <summary>The open image.</summary>
    public RbdImage Image { get; }

    /// <summary>pool/image.</summary>
    public string ImageName => _options.Image.Pool + "/" + _options.Image.Image;

    /// <inheritdoc />
    public long Length => Volatile.Read(ref _length);

    /// <inheritdoc />
    public long StorageLength => Image.CurrentSize;

    /// <inheritdoc />
    public event Action? StorageResized;

    /// <inheritdoc />
    public bool IsReadOnly { get; }

    /// <summary>True when librbd caches writes for this image (<see cref="RbdImage.HasVolatileCache"/>): only then is rbd_aio_flush sent.</summary>
    public bool FlushNeeded => Image.HasVolatileCache;

    /// <summary>rbd_aio_flush calls started (flushes and FUA writes), for the tests and statistics.</summary>
    public long FlushesSent => Interlocked.Read(ref _flushesSent);

    /// <summary>True once a flush can no longer be true: every later flush fails with EIO.</summary>
    public bool FlushLatched => Volatile.Read(ref _flushLatched) != 0;

    /// <summary>Connects, opens the image and takes its exclusive lock (unless read-only).</summary>
    /// <param name="options">What to open.</param>
    /// <exception cref="ErrnoException">A step of the open failed (its Operation names which); nothing stays open.</exception>
    /// <exception cref="RbdLockException">The image lacks the exclusive-lock feature, or another client holds the lock.</exception>
    /// <exception cref="ArgumentException">The image is smaller than <see cref="RbdBackendOptions.Size"/>.</exception>
    public static RbdBackend Open(RbdBackendOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        RbdImage image = RbdImage.Open(options.Image);
        try
        {
            string name = options.Image.Pool + "/" + options.Image.Image;
            if (options.Size is { } size && size > image.Size)
            {
                throw new ArgumentException($"rbd image {name} holds {image.Size} bytes, less than the {size} asked for");
            }

            if (!options.Image.ReadOnly)
            {
                Lock(image, name, options.LockWait);
            }

            var backend = new RbdBackend(options, image);
            CacheSettings(backend._logger, backend.DeviceName, name, image.CacheConfiguration,
                image.HasVolatileCache ? "librbd caches writes, so every flush is sent to it (rbd_aio_flush)" : "a completed write is on the OSDs, so a flush completes once the writes before it have");

            // librbd calls back on its own thread and waits for the callback: hand over at once.
            image.WatchUpdates(backend.ImageUpdated);
            return backend;
        }
        catch
        {
            image.Dispose();
            throw;
        }
    }

    /// <inheritdoc />
    public IBackendExecutor CreateExecutor(IBackendCompletion completion) => new RbdExecutor(this, completion);

    /// <summary>Closes the image (its outstanding requests first), which releases the lock, and disconnects.</summary>
    public void Dispose() => Image.Dispose();

    /// <inheritdoc />
    /// <remarks>
    /// The image grows only when it is smaller than <paramref name="length"/> (a device given a
    /// --size below its image keeps the rest), and shrinks to <paramref name="length"/> when it is
    /// larger, as a file is cut. With the exclusive lock held, rbd_resize runs here.
    /// </remarks>
    public void Resize(long length)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(length);
        if (length % 512 != 0)
        {
            throw new ArgumentException($"The size ({length} bytes) is not a multiple of 512.", nameof(length));
        }

        if (IsReadOnly)
        {
            throw new InvalidOperationException($"rbd image {ImageName} is served read-only; it cannot be resized.");
        }

        if (length >= Length)
        {
            if (length > Image.CurrentSize)
            {
                Image.Resize(length);
            }

            Volatile.Write(ref _length, length);
            return;
        }

        Volatile.Write(ref _length, length);
        if (Image.CurrentSize > length)
        {
            Image.Resize(length);
        }
    }

    /// <inheritdoc />
    public void Follow(long length)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(length);
        Volatile.Write(ref _length, length / 512 * 512);
    }

    /// <summary>Starts an rbd_aio_flush, counted.</summary>
    internal Errno StartFlush(int sink, int slot)
    {
        Interlocked.Increment(ref _flushesSent);
        return Image.StartFlush(sink, slot);
    }

    /// <summary>A flush or a FUA write failed: no later flush can promise what it should have.</summary>
    internal void LatchFlush()
    {
        if (Interlocked.Exchange(ref _flushLatched, 1) == 0)
        {
            FlushFailed(_logger, DeviceName, ImageName);
        }
    }

    /// <summary>A request failed with <paramref name="errno"/>; the first failure is logged with librbd's own reason.</summary>
    internal void RequestFailed(Errno errno)
    {
        if (Interlocked.Exchange(ref _failureLogged, 1) == 0)
        {
            FirstFailure(_logger, DeviceName, ImageName, errno.Describe(), _options.Image.Timeout.TotalSeconds);
        }
    }

    /// <summary>On a librbd thread: the header changed (maybe the size); the thread pool tells the listeners.</summary>
    private void ImageUpdated()
    {
        if (Interlocked.Exchange(ref _resizeQueued, 1) == 0)
        {
            ThreadPool.UnsafeQueueUserWorkItem(static b => b.RaiseStorageResized(), this, preferLocal: false);
        }
    }

    private void RaiseStorageResized()
    {
        // Cleared first: a notification that comes while the listeners run queues another round.
        Volatile.Write(ref _resizeQueued, 0);
        StorageResized?.Invoke();
    }

    private string DeviceName => _options.DeviceName?.Invoke() ?? "rbd";

    private static void Lock(RbdImage image, string name, TimeSpan wait)
    {
        if (!image.HasExclusiveLock)
        {
            throw new RbdLockException(false, $"rbd image {name} lacks the exclusive-lock feature, so nothing would keep a second client from writing it; enable it (rbd feature enable {name} exclusive-lock)");
        }

        long deadline = Environment.TickCount64 + (long)wait.TotalMilliseconds;
        while (true)
        {
            Errno e = image.TryAcquireExclusiveLock();
            if (e == Errno.None && image.IsLockOwner)
            {
                return;
            }

            if (e is not (Errno.None or Errno.EROFS or Errno.EBUSY or Errno.EAGAIN) )
            {
                throw ErrnoException.FromErrno(e, "rbd_lock_acquire", name);
            }

            if (Environment.TickCount64 >= deadline)
            {
                throw new RbdLockException(true, $"rbd image {name} is locked by another client (another loop-order, rbd map, a VM): rbd_lock_acquire: {e.Describe()}; `rbd lock ls {name}` and `rbd status {name}` name it");
            }

            // The holder may be a killed client whose watch has not timed out yet.
            Thread.Sleep(1000);
        }
    }

    [LoggerMessage(EventId = 242, Level = LogLevel.Information, Message = "{Device}: rbd image {Image}: {Cache}: {Flushes}")]
    private static partial void CacheSettings(ILogger logger, string device, string image, string cache, string flushes);

    [LoggerMessage(EventId = 240, Level = LogLevel.Error, Message = "{Device}: a flush (or FUA write) failed on rbd image {Image}; every later flush fails with EIO until the device is deleted")]
    private static partial void FlushFailed(ILogger logger, string device, string image);

    [LoggerMessage(EventId = 241, Level = LogLevel.Error, Message = "{Device}: a request on rbd image {Image} failed ({Reason}; requests wait up to {Seconds} s for a cluster that does not answer); it failed with EIO, and later failures are not logged")]
    private static partial void FirstFailure(ILogger logger, string device, string image, string reason, double seconds);
}
