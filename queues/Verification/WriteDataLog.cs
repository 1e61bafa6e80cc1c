using Microsoft.Win32.SafeHandles;

namespace LoopOrder.Verification;

/// <summary>
/// The data of every write of a recorded real workload, appended to one file as the writes start
/// landing (so a crash image can be rebuilt from the initial file and the writes a power cut kept).
/// Any thread may append: space is reserved with one Interlocked add and the bytes written with
/// pwrite outside any lock; only the index (sequence to offset) takes a lock. A write started more
/// than once (a short write resumed) keeps its first copy: the data does not change in between.
/// Test-only: it costs a copy and a lock per write.
/// </summary>
public sealed class WriteDataLog : IDisposable
{
    private readonly SafeFileHandle? _file;
    private readonly Dictionary<long, (long Offset, int Length)> _index = [];
    private readonly Lock _gate = new();
    private long _end;

    /// <summary>Creates (or truncates) <paramref name="path"/> and appends to it.</summary>
    public WriteDataLog(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        Path = path;
        _file = File.OpenHandle(path, FileMode.Create, FileAccess.ReadWrite);
    }

    /// <summary>A log read back: <paramref name="index"/> says where each write's bytes are in <paramref name="path"/>.</summary>
    private WriteDataLog(string path, Dictionary<long, (long Offset, int Length)> index)
    {
        Path = path;
        _index = index;
        _end = index.Count == 0 ? 0 : index.Values.Max(e => e.Offset + e.Length);
    }

    /// <summary>The file the data is in.</summary>
    public string Path { get; }

    /// <summary>Bytes appended.</summary>
    public long Length => Volatile.Read(ref _end);

    /// <summary>Writes whose data is in the log.</summary>
    public int Count
    {
        get
        {
            lock (_gate)
            {
                return _index.Count;
            }
        }
    }

    /// <summary>Every write in the log: sequence, offset in the file, length; by sequence.</summary>
    public IReadOnlyList<(long Sequence, long Offset, int Length)> Entries
    {
        get
        {
            lock (_gate)
            {
                return [.. _index.OrderBy(e => e.Key).Select(e => (e.Key, e.Value.Offset, e.Value.Length))];
            }
        }
    }

    /// <summary>Appends <paramref name="data"/> as the data of request <paramref name="sequence"/>, unless it already has some.</summary>
    public void Capture(long sequence, ReadOnlySpan<byte> data)
    {
        if (_file is null)
        {
            throw new InvalidOperationException("a log read back from a file takes no more data");
        }

        lock (_gate)
        {
            if (_index.ContainsKey(sequence))
            {
                return;
            }
        }

        long offset = Interlocked.Add(ref _end, data.Length) - data.Length;
        RandomAccess.Write(_file, data, offset);
        lock (_gate)
        {
            _index.TryAdd(sequence, (offset, data.Length));
        }
    }

    /// <summary>Where the data of <paramref name="sequence"/> is, or false when the log has none.</summary>
    public bool TryFind(long sequence, out long offset, out int length)
    {
        lock (_gate)
        {
            bool found = _index.TryGetValue(sequence, out (long Offset, int Length) e);
            (offset, length) = e;
            return found;
        }
    }

    /// <summary>A log read back from <paramref name="path"/> with its index (see <see cref="TraceFile"/>).</summary>
    internal static WriteDataLog Open(string path, IEnumerable<(long Sequence, long Offset, int Length)> entries)
    {
        var index = new Dictionary<long, (long, int)>();
        long fileLength = new FileInfo(path).Length;
        foreach ((long sequence, long offset, int length) in entries)
        {
            if (offset < 0 || length < 0 || offset + length > fileLength || !index.TryAdd(sequence, (offset, length)))
            {
                throw new InvalidDataException($"{path}: entry for request #{sequence} ({length} bytes at {offset}) is outside the file or repeated");
            }
        }

        return new WriteDataLog(path, index);
    }

    /// <inheritdoc />
    public void Dispose() => _file?.Dispose();
}
