using LoopOrder.Interop;
using LoopOrder.Queues.Backends;
using Microsoft.Extensions.Logging;

namespace LoopOrder.Queues.Targets.File;

/// <summary>
/// A regular file (the default target): <c>--file PATH</c>, created sparse when absent and
/// <c>--size</c> is given. Buffered or O_DIRECT; a flush is fdatasync; discard punches holes;
/// buffered writes take the submitter fast path; devices outlive a killed daemon and are
/// reattached to the same file. The backend is <see cref="FileBackend"/> (queues/Backends, where
/// the engine's own tests and benchmarks use it).
/// </summary>
public sealed partial class FileTarget : ITarget
{
    /// <summary>The target's name, and the default.</summary>
    public const string TargetName = "file";

    /// <summary>The backing file's option: --file, or <c>File</c> at the top of a device's settings (kept from before targets).</summary>
    public const string FileOption = "file";

    /// <inheritdoc />
    public string Name => TargetName;

    /// <inheritdoc />
    public string Summary => "a regular file (--file), buffered or O_DIRECT; survives a daemon restart";

    /// <inheritdoc />
    public IReadOnlyList<TargetOption> Options { get; } =
    [
        new(FileOption, "The backing file (created sparse when absent and --size is given). Required with --target file; no default.", TargetOptionKind.Path, "-f"),
    ];

    /// <inheritdoc />
    public TargetCapabilities Capabilities =>
        TargetCapabilities.NeedsFlush | TargetCapabilities.DirectIo | TargetCapabilities.Discard
        | TargetCapabilities.SubmitterLane | TargetCapabilities.Persistent | TargetCapabilities.ReadOnly
        | TargetCapabilities.ZeroCopy;

    /// <inheritdoc />
    public string? Problem(TargetRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        string? file = request.Value(FileOption);
        if (string.IsNullOrWhiteSpace(file))
        {
            return "--file is required: the backing file to serve.";
        }

        if (request.ReadOnly && request.Size is not null && !System.IO.File.Exists(file))
        {
            return "--read-only with --size: a new file would be all zeros and unwritable; create the file first.";
        }

        return null;
    }

    /// <inheritdoc />
    public IReadOnlyDictionary<string, string> Normalise(IReadOnlyDictionary<string, string> values)
    {
        ArgumentNullException.ThrowIfNull(values);
        return new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase) { [FileOption] = Path.GetFullPath(values[FileOption]) };
    }

    /// <inheritdoc />
    public string Describe(IReadOnlyDictionary<string, string> values) =>
        values is not null && values.TryGetValue(FileOption, out string? f) ? f : "(no file)";

    /// <inheritdoc />
    public bool SameStorage(IReadOnlyDictionary<string, string> a, IReadOnlyDictionary<string, string> b)
    {
        ArgumentNullException.ThrowIfNull(a);
        ArgumentNullException.ThrowIfNull(b);
        string x = a[FileOption];
        string y = b[FileOption];
        return string.Equals(x, y, StringComparison.Ordinal) || SameInode(x, y);
    }

    /// <inheritdoc />
    public string? InitialImage(TargetRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        string file = request.Value(FileOption)!;
        return System.IO.File.Exists(file) ? file : null;
    }

    /// <inheritdoc />
    public OpenedTarget Open(TargetRequest request, TargetContext context)
    {
        ArgumentNullException.ThrowIfNull(request);
        ArgumentNullException.ThrowIfNull(context);
        string file = request.Value(FileOption)!;
        bool existed = System.IO.File.Exists(file) || Directory.Exists(file);
        if (request.Size is null && !existed && !request.Recovering)
        {
            throw new TargetException(TargetFailure.NoInput, $"{file} does not exist; give --size to create it (sparse), or create it first.");
        }

        // A restarted daemon never creates: a file gone since the device was added is an error, not a blank disk.
        bool create = request.Size is not null && !request.Recovering && !existed;
        FileBackend backend = new(new FileBackendOptions
        {
            Path = file,
            DirectIo = request.DirectIo,
            ReadOnly = request.ReadOnly,
            Size = request.Size,
            Create = create,
        });

        // Before the engine exists, so no truncation goes unlogged (the kernel reads the device as soon as it starts).
        backend.Truncated = fileSize => BackingFileTruncated(context.Logger, context.BlockDevice(), file, fileSize, backend.Length);
        try
        {
            if (backend.Length < request.BlockSize)
            {
                throw new TargetException(TargetFailure.Usage, $"{file} holds {backend.Length} bytes, less than one {request.BlockSize}-byte block; give a larger file or --size.");
            }

            if (request.DirectIo && backend.DirectIoAlignment > request.BlockSize)
            {
                throw new TargetException(TargetFailure.Usage, $"{file} needs {backend.DirectIoAlignment}-byte alignment for O_DIRECT; use --block-size 4096 or drop --direct-io.");
            }
        }
        catch
        {
            backend.Dispose();
            if (create)
            {
                _ = FileDescriptor.TryUnlink(file);
            }

            throw;
        }

        // Ours: a failed add leaves nothing behind.
        return new OpenedTarget(backend, create ? () => FileDescriptor.TryUnlink(file) : null);
    }

    private static bool SameInode(string a, string b)
    {
        try
        {
            using SafeFileDescriptor fa = FileDescriptor.Open(a, OpenFlags.ReadOnly);
            using SafeFileDescriptor fb = FileDescriptor.Open(b, OpenFlags.ReadOnly);
            stat64 sa = FileDescriptor.Stat(fa);
            stat64 sb = FileDescriptor.Stat(fb);
            return sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
        }
        catch (IOException)
        {
            // Either is missing or unreadable: then they cannot be one served file.
            return false;
        }
    }

    [LoggerMessage(EventId = 205, Level = LogLevel.Critical, Message = "{BlockDevice}: the backing file {File} was truncated to {FileBytes} bytes while served, below the device's {DeviceBytes}; every request now fails with EIO (a write past the cut would silently re-extend the file). Restore the file, then restart the device")]
    private static partial void BackingFileTruncated(ILogger logger, string blockDevice, string file, long fileBytes, long deviceBytes);
}
