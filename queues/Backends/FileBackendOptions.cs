namespace LoopOrder.Queues.Backends;

/// <summary>How a <see cref="FileBackend"/> opens its backing file.</summary>
public sealed class FileBackendOptions
{
    /// <summary>
    /// The most SQEs an executor's ring may have: the kernel's own cap (IORING_MAX_ENTRIES) is
    /// 32768, but past a few thousand a ring only pins memory; the queue depth a device can
    /// reach is bounded by its tags anyway.
    /// </summary>
    public const int MaxRingEntries = 4096;

    /// <summary>The backing file: a regular file (block devices and other file types are refused). Required.</summary>
    public required string Path { get; init; }

    /// <summary>
    /// Open with O_DIRECT: bypass the page cache. Every buffer, offset and length must then meet
    /// the filesystem's direct-I/O alignment (the ublk transport's buffers are 4096-aligned;
    /// requests that are not aligned fail with EINVAL). Default false (buffered).
    /// </summary>
    public bool DirectIo { get; init; }

    /// <summary>Open read-only: writes, discards and write-zeroes fail with EROFS. Default false.</summary>
    public bool ReadOnly { get; init; }

    /// <summary>
    /// Device size in bytes, a positive multiple of 512. Null (the default) serves the whole
    /// file. When set: a missing file is created with this size if <see cref="Create"/> is set;
    /// an existing file smaller than this is refused (it is never grown or shrunk); a larger
    /// one is served up to this size only.
    /// </summary>
    public long? Size { get; init; }

    /// <summary>
    /// Create the file (sparse, mode 0600, with <see cref="Size"/> bytes) when it does not
    /// exist; an existing file is opened as it is. Needs <see cref="Size"/>; not with
    /// <see cref="ReadOnly"/>. Default false.
    /// </summary>
    public bool Create { get; init; }

    /// <summary>
    /// SQ entries in each executor's io_uring, which is also how many operations one executor
    /// keeps in flight (more wait in its overflow queue). Default 256: a ublk queue has at most
    /// 4096 tags but is usually run at depth 64-128, and two such queues feeding one worker fit
    /// with room for short-transfer resubmissions; the ring costs about 16 KiB of SQEs plus
    /// 8 KiB of CQEs (the CQ is twice the SQ so completions never overflow). Between 2 and
    /// <see cref="MaxRingEntries"/>; rounded up to a power of two by the kernel.
    /// </summary>
    public int RingEntries { get; init; } = 256;
}
