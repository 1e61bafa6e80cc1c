using System.Globalization;
using System.Runtime.InteropServices;
using LoopOrder.Interop;
using LoopOrder.Interop.Uring;
using LoopOrder.Queues.Requests;

namespace LoopOrder.Queues.Backends;

/// <summary>
/// A device backed by a regular file: reads and writes go to the file (buffered or O_DIRECT),
/// FLUSH is fdatasync, FUA writes carry RWF_DSYNC, DISCARD punches a hole and WRITE_ZEROES zeroes
/// a range (punching it when NOUNMAP is clear). Each worker thread gets a <see cref="FileExecutor"/>
/// with its own io_uring, so one thread keeps many operations in flight.
/// </summary>
/// <remarks>
/// <para>
/// <b>Opening</b> either succeeds with the file locked (flock LOCK_EX, so a second server cannot
/// serve it too) or throws an <see cref="ErrnoException"/> whose message names the path, what is
/// wrong and what to do, and leaves nothing behind: an existing file is never resized or
/// written, and a file this call created is removed again.
/// </para>
/// <para>
/// <b>Block devices are refused.</b> The product is a file-backed device; a block device needs
/// other answers (size from BLKGETSIZE64, exclusivity from O_EXCL rather than flock, discard
/// through BLKDISCARD semantics, no st_blocks or truncation to watch), none of which is built or
/// tested here, so it fails clearly rather than half working.
/// </para>
/// <para>
/// <b>A file truncated while served</b> (cut below the device's end by another process) fails the
/// device closed: once a read reaches the new end-of-file, or a write-class op finds the file
/// shorter than the device (each executor re-reads the size at most once a millisecond), every
/// request fails with EIO and <see cref="Truncated"/> is called once. A write that starts within
/// that millisecond may still re-extend the file; <see cref="TruncationGuard"/> says exactly what
/// window remains. Discard and write-zeroes use FALLOC_FL_KEEP_SIZE and can never extend the file.
/// </para>
/// <para>
/// Dispose every executor (on its own thread) before the backend: the lock is released when the
/// file's last reference closes, and an executor's in-flight operations hold references.
/// </para>
/// </remarks>
public sealed unsafe class FileBackend : IResizableBackend, IRegisteredFile
{
    /// <summary>The largest read or write: its byte count must fit the int <see cref="BlockRequest.ByteCount"/>.</summary>
    private const uint MaxTransferSectors = int.MaxValue >> BlockRequest.SectorShift;

    /// <summary>Mode for a file <see cref="FileBackendOptions.Create"/> makes: rw------- (0600), since a disk image may hold anything.</summary>
    private const int CreateMode = 0x180;

    /// <summary>
    /// Bytes of zeros kept for WRITE_ZEROES / DISCARD on a filesystem without the fallocate mode
    /// they need: 256 KiB writes a typical discard (up to a few MiB) in a handful of SQEs while
    /// costing nothing on filesystems that have the modes. 4096-aligned, so O_DIRECT can use it.
    /// </summary>
    internal const int ZeroChunk = 256 * 1024;

    /// <summary>The direct-I/O memory alignment assumed when the kernel does not report one: the transport's page-aligned buffers meet it.</summary>
    private const int AssumedDioMemAlign = 4096;

    /// <summary>The direct-I/O offset alignment assumed when the kernel does not report one: a sector.</summary>
    private const int AssumedDioOffsetAlign = BlockRequest.SectorSize;

    private readonly SafeFileDescriptor _file;
    private readonly AlignedBuffer? _zeros;

    /// <summary>When the transport's transfers last rechecked the file's size (see <see cref="TruncationGuard.BeforeWrite"/>).</summary>
    private long _transferSizeCheck;

    /// <summary>The file size last read by statx (open, a read that hit EOF, or a recheck before a write).</summary>
    private long _fileSize;

    /// <summary>1 once an fdatasync (or a FUA write's sync) failed: every later flush fails with EIO.</summary>
    private int _syncFailed;

    /// <summary>1 once the filesystem refused FALLOC_FL_ZERO_RANGE (then zeros are written).</summary>
    private int _zeroRangeUnsupported;

    /// <summary>1 once the filesystem refused FALLOC_FL_PUNCH_HOLE (then the range is zeroed instead).</summary>
    private int _punchUnsupported;

    private int _disposed;

    /// <summary>The device size served: the file size at open (or the size asked for), changed only by <see cref="Resize"/>.</summary>
    private long _length;

    /// <summary>Opens (or creates) the backing file and locks it.</summary>
    /// <param name="options">What to open and how.</param>
    /// <exception cref="ArgumentException">An option is invalid (no path, a size that is not a positive multiple of 512, Create without Size, ...).</exception>
    /// <exception cref="ErrnoException">The file cannot be served; <see cref="ErrnoException.Errno"/> says why and the message what to do.</exception>
    /// <exception cref="IOException">io_uring is unavailable on this kernel.</exception>
    public FileBackend(FileBackendOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        ValidateOptions(options);
        Path = options.Path;
        DirectIo = options.DirectIo;
        IsReadOnly = options.ReadOnly;
        RingEntries = options.RingEntries;

        // Probe io_uring before touching the file, so "io_uring disabled" is an open-time error
        // (executors make their rings later, on their own threads).
        ProbeIoUring();

        (_file, _length, _fileSize, DioMemAlign, DioOffsetAlign) = Open(options);
        Truncation = new TruncationGuard(this);
        if (!IsReadOnly)
        {
            _zeros = new AlignedBuffer(ZeroChunk);
        }
    }

    /// <summary>The backing file's path, as given.</summary>
    public string Path { get; }

    /// <summary>True when the file is open with O_DIRECT.</summary>
    public bool DirectIo { get; }

    /// <inheritdoc />
    public long Length => Volatile.Read(ref _length);

    /// <inheritdoc />
    public bool IsReadOnly { get; }

    /// <summary>
    /// The alignment, in bytes, O_DIRECT needs for offsets and lengths on this file (from statx
    /// STATX_DIOALIGN, else 512); 1 when not in direct mode. The device's logical block size must
    /// be at least this, or unaligned requests fail with EINVAL.
    /// </summary>
    public int DirectIoAlignment => DirectIo ? DioOffsetAlign : 1;

    /// <summary>
    /// True once the file was seen shorter than the device while served: every request fails
    /// with EIO from then on, until the device is restarted (see <see cref="TruncationGuard"/>).
    /// </summary>
    public bool IsTruncated => Truncation.Tripped;

    /// <summary>
    /// Called once when the file is first seen shorter than the device, with the size seen then;
    /// on the worker thread that saw it, so it must not block (log and return). Null by default.
    /// </summary>
    public Action<long>? Truncated
    {
        get => Truncation.OnTripped;
        set => Truncation.OnTripped = value;
    }

    /// <summary>Notices a cut file and fails the device closed; the executors consult it.</summary>
    internal TruncationGuard Truncation { get; }

    /// <summary>SQ entries each executor's ring asks for.</summary>
    internal int RingEntries { get; }

    /// <summary>The file descriptor number for SQEs; valid until <see cref="Dispose"/>.</summary>
    internal int Fd => _file.RawFd;

    /// <summary>Direct-I/O buffer alignment (1 when buffered).</summary>
    internal int DioMemAlign { get; }

    /// <summary>Direct-I/O offset and length alignment (1 when buffered).</summary>
    internal int DioOffsetAlign { get; }

    /// <summary>Native zeros for the write-zeroes fallback; null when read-only.</summary>
    internal nint Zeros => _zeros is null ? 0 : (nint)_zeros.Pointer;

    /// <summary>Test seams, read by executors when they are created; null in production.</summary>
    internal FileBackendHooks? Hooks { get; set; }

    /// <summary>
    /// True when a write without FUA is a pwrite that finishes inside the call: a buffered file,
    /// unless a measurement hook sends such writes through the ring. Read as executors are made.
    /// </summary>
    internal bool WritesInline => !DirectIo && !(Hooks?.RingBufferedWrites ?? false);

    /// <summary>True once a sync failed: flushes fail with EIO from then on.</summary>
    internal bool SyncFailed => Volatile.Read(ref _syncFailed) != 0;

    /// <summary>True once ZERO_RANGE was refused.</summary>
    internal bool ZeroRangeUnsupported => Volatile.Read(ref _zeroRangeUnsupported) != 0;

    /// <summary>True once PUNCH_HOLE was refused.</summary>
    internal bool PunchUnsupported => Volatile.Read(ref _punchUnsupported) != 0;

    /// <inheritdoc />
    public IBackendExecutor CreateExecutor(IBackendCompletion completion)
    {
        ArgumentNullException.ThrowIfNull(completion);
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        return new FileExecutor(this, completion);
    }

    /// <inheritdoc />
    /// <remarks>
    /// Buffered files only: a buffered write is a page-cache copy that completes inside pwrite,
    /// which is what <see cref="FileExecutor"/> already does on its worker thread. With O_DIRECT
    /// every write waits for the disk and belongs on a worker's ring. The executor made here never
    /// makes a ring of its own, and fails anything but a buffered non-FUA write with EOPNOTSUPP.
    /// </remarks>
    public IBackendExecutor? CreateSubmitterExecutor(IBackendCompletion completion)
    {
        ArgumentNullException.ThrowIfNull(completion);
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        return WritesInline ? new FileExecutor(this, completion, writesOnly: true) : null;
    }

    /// <summary>Closes the file, which releases its lock once no executor holds it (see the type remarks).</summary>
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        _file.Dispose();
        _zeros?.Dispose();
    }

    /// <inheritdoc />
    /// <remarks>The file is extended sparse when growing; shrinking cuts it after the size served is lowered, so the truncation guard never sees a file shorter than the device.</remarks>
    public void Resize(long length)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(length);
        if (length % BlockRequest.SectorSize != 0)
        {
            throw new ArgumentException($"The size ({length} bytes) is not a multiple of 512.", nameof(length));
        }

        if (IsReadOnly)
        {
            throw new InvalidOperationException($"{Path} is served read-only; it cannot be resized.");
        }

        if (length >= Length)
        {
            if (length > Volatile.Read(ref _fileSize))
            {
                FileDescriptor.Truncate(_file, length);
                Volatile.Write(ref _fileSize, length);
            }

            Volatile.Write(ref _length, length);
            return;
        }

        Volatile.Write(ref _length, length);
        FileDescriptor.Truncate(_file, length);
        Volatile.Write(ref _fileSize, length);
    }

    /// <inheritdoc />
    public int TransferFd => _file.RawFd;

    /// <inheritdoc />
    /// <remarks>
    /// O_DIRECT only: a buffered write is a page-cache copy that the transport's lane already
    /// does inline (<see cref="WritesInline"/>), and a ring's buffered write to ext4 is punted to
    /// an io-wq worker (bench/results/ab-zero-copy), a hop of its own.
    /// </remarks>
    public bool PrefersTransportTransfers => DirectIo;

    /// <inheritdoc />
    /// <remarks>What an executor checks before it starts a request (<see cref="CheckStart"/>).</remarks>
    public int CheckTransfer(BlockRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);

        // Transfers run on the transport's threads, which share one recheck clock: a race only
        // makes a recheck come early.
        return CheckStart(request, ref _transferSizeCheck);
    }

    /// <summary>
    /// 0 when <paramref name="r"/> may start now (<see cref="Validate"/>, then the truncation
    /// guard); else the -errno to finish it with.
    /// </summary>
    /// <param name="r">The request.</param>
    /// <param name="lastSizeCheck">The caller's clock of the file-size rechecks (see <see cref="TruncationGuard.BeforeWrite"/>).</param>
    internal int CheckStart(BlockRequest r, ref long lastSizeCheck)
    {
        int error = Validate(r);
        if (error == 0)
        {
            // A truncated file fails the device closed (TruncationGuard); one flag read unless a write is due a size recheck.
            error = r.IsWriteClass ? Truncation.BeforeWrite(ref lastSizeCheck) : Truncation.Tripped ? Errno.EIO.ToResult() : 0;
        }

        return error;
    }

    /// <inheritdoc />
    /// <remarks>The rules of the executors' own transfers (FileRing): a retry on EINTR or EAGAIN, a short transfer continued, end of file inside the device is a truncated file (EIO), a failed FUA write latches the sync failure.</remarks>
    public bool TransferStepDone(BlockRequest request, ref int result)
    {
        ArgumentNullException.ThrowIfNull(request);
        if (result == Errno.EINTR.ToResult() || result == Errno.EAGAIN.ToResult())
        {
            return false;
        }

        if (result > 0)
        {
            request.Progress += result;
            if (request.Progress < request.ByteCount)
            {
                return false;
            }

            result = request.ByteCount;
            return true;
        }

        if (result == 0)
        {
            if (request.Op == BlockOp.Read)
            {
                Truncation.ReadHitEndOfFile();
            }

            result = Errno.EIO.ToResult();
            return true;
        }

        LatchIfFuaFailed((request.Flags & RequestFlags.Fua) != 0, result);
        return true;
    }

    /// <summary>After a failed write step: a FUA (DSYNC) write's failure latches the sync failure.</summary>
    internal void LatchIfFuaFailed(bool fua, int result)
    {
        // EINVAL is a malformed request, never a sync's verdict; anything else from a DSYNC
        // write may have consumed a writeback error the next fdatasync would no longer see.
        if (fua && result != Errno.EINVAL.ToResult())
        {
            LatchSyncFailure();
        }
    }

    /// <summary>
    /// 0 when <paramref name="r"/> may be started on this file: a transfer that fits an int,
    /// inside the device, not a write to a read-only file, aligned for O_DIRECT. Else -errno.
    /// </summary>
    private int Validate(BlockRequest r)
    {
        // ByteCount is an int: a transfer past 2 GiB cannot be described, whatever the device size.
        // Only transfers: a flush ignores its sector count (an EINVAL there would latch every
        // later flush), and discards count in longs.
        if (r.Op is BlockOp.Read or BlockOp.Write && r.SectorCount > MaxTransferSectors)
        {
            return Errno.EINVAL.ToResult();
        }

        int invalid = r.CheckBounds((ulong)Length >> BlockRequest.SectorShift);
        if (invalid != 0)
        {
            return invalid;
        }

        if (r.IsWriteClass && IsReadOnly)
        {
            return Errno.EROFS.ToResult();
        }

        // Registered pages (no address: Address is 0) are the request's own, page-aligned segments.
        if (r.Op is BlockOp.Read or BlockOp.Write && !FileRing.IsDirectIoAligned(this, r.Buffer.Address, r.ByteOffset, r.ByteCount))
        {
            return Errno.EINVAL.ToResult();
        }

        return 0;
    }

    /// <summary>Latches a sync failure (see <see cref="SyncFailed"/>).</summary>
    internal void LatchSyncFailure() => Volatile.Write(ref _syncFailed, 1);

    /// <summary>Remembers that the filesystem refused a fallocate mode, so later ops go straight to the fallback.</summary>
    internal void MarkUnsupported(int fallocateMode)
    {
        if ((fallocateMode & FallocFlags.PunchHole) != 0)
        {
            Volatile.Write(ref _punchUnsupported, 1);
        }
        else
        {
            Volatile.Write(ref _zeroRangeUnsupported, 1);
        }
    }

    /// <summary>Re-reads the file size (one statx) and returns it; on failure keeps and returns the last value.</summary>
    internal long RefreshFileSize()
    {
        if (FileDescriptor.TryStatx(_file, StatxBuffer.STATX_SIZE, out StatxBuffer st) == Errno.None)
        {
            Volatile.Write(ref _fileSize, (long)st.Size);
        }

        return Volatile.Read(ref _fileSize);
    }

    /// <summary>Allocated 512-byte blocks (st_blocks), for tests and diagnostics.</summary>
    internal long AllocatedBlocks()
    {
        Errno errno = FileDescriptor.TryStatx(_file, StatxBuffer.STATX_BLOCKS, out StatxBuffer st);
        if (errno != Errno.None)
        {
            ErrnoException.Throw(errno, "statx", Path);
        }

        return (long)st.Blocks;
    }

    private static void ValidateOptions(FileBackendOptions o)
    {
        if (string.IsNullOrEmpty(o.Path))
        {
            throw new ArgumentException("The backing file path is required.", nameof(o));
        }

        if (o.Size is long size && (size <= 0 || size % BlockRequest.SectorSize != 0))
        {
            throw new ArgumentException(
                string.Create(CultureInfo.InvariantCulture, $"Size {size} must be a positive multiple of {BlockRequest.SectorSize} bytes."),
                nameof(o));
        }

        if (o.Create && o.Size is null)
        {
            throw new ArgumentException("Create needs Size: a new backing file gets that many bytes (sparse).", nameof(o));
        }

        if (o.Create && o.ReadOnly)
        {
            throw new ArgumentException("Create and ReadOnly together make no sense: a new file would be all zeros and unwritable.", nameof(o));
        }

        if (o.RingEntries < 2 || o.RingEntries > FileBackendOptions.MaxRingEntries)
        {
            throw new ArgumentException(
                string.Create(CultureInfo.InvariantCulture, $"RingEntries {o.RingEntries} must be between 2 and {FileBackendOptions.MaxRingEntries}."),
                nameof(o));
        }
    }

    private static void ProbeIoUring()
    {
        try
        {
            using IoUring probe = new(2);
        }
        catch (ErrnoException e)
        {
            throw new IOException($"io_uring is unavailable ({e.Message}); the file backend needs it: check the sysctl kernel.io_uring_disabled (0 allows it) and any seccomp policy.", e);
        }
    }

    /// <summary>Opens, checks and locks the file; on any failure leaves nothing behind.</summary>
    private static (SafeFileDescriptor File, long Length, long FileSize, int DioMem, int DioOffset) Open(FileBackendOptions o)
    {
        string path = o.Path;

        // O_NONBLOCK only so that opening a FIFO by mistake cannot hang; it is cleared below,
        // because io_uring fails reads and writes on an O_NONBLOCK file with EAGAIN.
        OpenFlags flags = (o.ReadOnly ? OpenFlags.ReadOnly : OpenFlags.ReadWrite) | OpenFlags.NonBlocking;
        if (o.DirectIo)
        {
            flags |= OpenFlags.Direct;
        }

        bool created = false;
        SafeFileDescriptor? file = TryOpen(path, flags, 0, out Errno errno);
        if (file is null && errno == Errno.ENOENT && o.Create)
        {
            file = TryOpen(path, flags | OpenFlags.Create | OpenFlags.Exclusive, CreateMode, out errno);
            created = file is not null;
            if (file is null && errno == Errno.EEXIST)
            {
                // Someone created it between our two opens: treat it as an existing file.
                file = TryOpen(path, flags, 0, out errno);
            }
        }

        if (file is null)
        {
            throw OpenError(o, errno);
        }

        bool removeOnFailure = created;
        try
        {
            Errno statErr = FileDescriptor.TryStatx(file, StatxBuffer.STATX_TYPE | StatxBuffer.STATX_SIZE | StatxBuffer.STATX_DIOALIGN, out StatxBuffer st);
            if (statErr != Errno.None)
            {
                ErrnoException.Throw(statErr, "statx", path);
            }

            CheckFileType(path, st.Mode);

            FileDescriptor.ClearNonBlocking(file);

            try
            {
                FileDescriptor.LockExclusive(file);
            }
            catch (ErrnoException e) when (e.Errno == Errno.EWOULDBLOCK)
            {
                // Not ours to remove if another server locked the file we just created.
                removeOnFailure = false;
                throw ErrnoException.FromErrno(
                    e.Errno,
                    "flock",
                    path,
                    "the backing file is in use: another LoopOrder server (or another program) holds its lock; stop that server or choose another file");
            }

            long fileSize;
            if (created)
            {
                FileDescriptor.Truncate(file, o.Size!.Value);
                fileSize = o.Size.Value;
            }
            else
            {
                fileSize = (long)st.Size;
            }

            long length = CheckSize(o, path, fileSize);
            (int dioMem, int dioOffset) = DirectIoAlignments(o, path, st);
            return (file, length, fileSize, dioMem, dioOffset);
        }
        catch
        {
            if (removeOnFailure)
            {
                _ = FileDescriptor.TryUnlink(path);
            }

            file.Dispose();
            throw;
        }
    }

    private static SafeFileDescriptor? TryOpen(string path, OpenFlags flags, int mode, out Errno errno)
    {
        try
        {
            errno = Errno.None;
            return FileDescriptor.Open(path, flags, mode);
        }
        catch (ErrnoException e)
        {
            errno = e.Errno;
            return null;
        }
    }

    private static ErrnoException OpenError(FileBackendOptions o, Errno errno)
    {
        string? detail = errno switch
        {
            Errno.ENOENT when o.Create => "its directory does not exist; create the directory first",
            Errno.ENOENT => "the backing file does not exist; create it, or pass --create with --size",
            Errno.EACCES or Errno.EPERM or Errno.EROFS when !o.ReadOnly =>
                "the backing file cannot be opened for writing; fix its permissions, or pass --read-only to serve it read-only",
            Errno.EACCES or Errno.EPERM => "permission denied; this user cannot read the backing file",
            Errno.EISDIR => "the path is a directory; give a regular file",
            Errno.EINVAL when o.DirectIo => "this filesystem does not support O_DIRECT; drop --direct-io",
            _ => null,
        };
        return ErrnoException.FromErrno(errno, "open", o.Path, detail);
    }

    private static void CheckFileType(string path, ushort mode)
    {
        int type = mode & (int)stat64.S_IFMT;
        if (type == (int)stat64.S_IFREG)
        {
            return;
        }

        string detail = type switch
        {
            (int)stat64.S_IFDIR => "the path is a directory; give a regular file",
            (int)stat64.S_IFBLK => "the path is a block device, which this backend does not serve; give a regular file",
            _ => "the path is not a regular file (a FIFO, socket or character device); give a regular file",
        };
        throw ErrnoException.FromErrno(type == (int)stat64.S_IFDIR ? Errno.EISDIR : Errno.EINVAL, "open", path, detail);
    }

    private static long CheckSize(FileBackendOptions o, string path, long fileSize)
    {
        if (o.Size is long wanted)
        {
            if (fileSize < wanted)
            {
                throw ErrnoException.FromErrno(
                    Errno.EINVAL,
                    "open",
                    path,
                    string.Create(CultureInfo.InvariantCulture, $"the backing file has {fileSize} bytes, fewer than the requested size {wanted}; it is never grown: resize it yourself (truncate -s) or ask for a smaller size"));
            }

            // A larger file is served up to the requested size only.
            return wanted;
        }

        if (fileSize == 0)
        {
            throw ErrnoException.FromErrno(Errno.EINVAL, "open", path, "the backing file is empty; give it a size (truncate -s), or pass --size");
        }

        if (fileSize % BlockRequest.SectorSize != 0)
        {
            throw ErrnoException.FromErrno(
                Errno.EINVAL,
                "open",
                path,
                string.Create(CultureInfo.InvariantCulture, $"the backing file has {fileSize} bytes, not a multiple of {BlockRequest.SectorSize}; pass --size with a multiple of {BlockRequest.SectorSize} to serve a prefix, or resize the file"));
        }

        return fileSize;
    }

    private static (int Mem, int Offset) DirectIoAlignments(FileBackendOptions o, string path, in StatxBuffer st)
    {
        if (!o.DirectIo)
        {
            return (1, 1);
        }

        if ((st.Mask & StatxBuffer.STATX_DIOALIGN) == 0)
        {
            // Kernel before 6.1 or a filesystem that does not say: assume what the transport gives.
            return (AssumedDioMemAlign, AssumedDioOffsetAlign);
        }

        if (st.DioOffsetAlign == 0)
        {
            throw ErrnoException.FromErrno(Errno.EINVAL, "open", path, "this filesystem does not support O_DIRECT on this file; drop --direct-io");
        }

        return ((int)Math.Max(st.DioMemAlign, 1u), (int)st.DioOffsetAlign);
    }
}
