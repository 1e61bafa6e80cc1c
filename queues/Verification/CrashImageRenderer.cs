using System.IO.MemoryMappedFiles;
using LoopOrder.Queues.Requests;

namespace LoopOrder.Verification;

/// <summary>One rendered crash image.</summary>
/// <param name="Clock">The image is a power cut right after this event.</param>
/// <param name="Nanoseconds">That event's CLOCK_MONOTONIC timestamp: what happened before it in userspace may be required of the image.</param>
/// <param name="SectorsFromWrites">Sectors holding a recorded write's data (or its zeros) rather than the initial file's.</param>
/// <param name="Violations">Sectors whose chosen value the contract does not allow at <paramref name="Clock"/> (must be 0).</param>
public readonly record struct CrashImage(long Clock, long Nanoseconds, long SectorsFromWrites, long Violations);

/// <summary>
/// Renders crash images of a recorded real workload (<see cref="TraceFile"/>): at a clock, the
/// power-cut model picks, per 512-byte sector, one value the page cache and disk could really hold
/// after a power cut there, an aligned physical block (4 KiB) never torn between writes that
/// covered it alike (<see cref="PowerCutModel.SampleImage(long, Random, int)"/>), and the image is the initial
/// file with each such sector replaced by the chosen write's real data (zeros for a discard or
/// write-zeroes). Each image is also audited against the contract's set: every chosen value must
/// be one the contract allows, or the implementation could leave an image the promise forbids.
/// The initial file is held in memory and the write data mapped, so an image costs one pass over
/// the sectors and one sparse file write.
/// </summary>
public sealed unsafe class CrashImageRenderer : IDisposable
{
    /// <summary>Granule of the sparse image write: all-zero pages stay holes.</summary>
    private const int HoleGranule = 4096;

    private readonly RecordedTrace _trace;
    private readonly byte[] _initial;
    private readonly byte[] _image;
    private readonly List<ulong> _changed = [];
    private readonly MemoryMappedFile? _map;
    private readonly MemoryMappedViewAccessor? _view;
    private readonly byte* _data;
    private readonly long _dataLength;
    private readonly long[] _flushAcks;
    private readonly (long Start, long End)[] _syncs;

    /// <summary>The unit a power cut does not tear by default: the physical block size LoopOrder's devices advertise.</summary>
    public const int DefaultAtomicBytes = 4096;

    private readonly int _atomicSectors;

    /// <summary>
    /// Loads the initial file and maps the write data of <paramref name="trace"/>. Images never
    /// tear an aligned <paramref name="atomicBytes"/> block between writes that covered it alike
    /// (see <see cref="PowerCutModel.SampleImage(long, Random, int)"/>); 512 tears every sector freely.
    /// </summary>
    public CrashImageRenderer(RecordedTrace trace, int atomicBytes = DefaultAtomicBytes)
    {
        ArgumentNullException.ThrowIfNull(trace);
        if (atomicBytes < BlockRequest.SectorSize || atomicBytes > (1 << 20) || !int.IsPow2(atomicBytes))
        {
            throw new ArgumentOutOfRangeException(nameof(atomicBytes), atomicBytes, "a power of two from 512 bytes to 1 MiB");
        }

        _atomicSectors = atomicBytes / BlockRequest.SectorSize;
        _trace = trace;
        if (trace.CapacityBytes > Array.MaxLength)
        {
            throw new InvalidDataException($"a {trace.CapacityBytes}-byte device is too large to render in memory");
        }

        _initial = new byte[trace.CapacityBytes];
        using (var initial = new FileStream(trace.InitialPath, FileMode.Open, FileAccess.Read, FileShare.Read, 0))
        {
            if (initial.Length < trace.CapacityBytes)
            {
                throw new InvalidDataException($"{trace.InitialPath} holds {initial.Length} bytes, less than the device's {trace.CapacityBytes}");
            }

            initial.ReadExactly(_initial);
        }

        _image = (byte[])_initial.Clone();
        Model = PowerCutModel.Build(trace.Recorder, trace.Mode, trace.CapacitySectors);

        string dataPath = trace.Recorder.Data!.Path;
        _dataLength = new FileInfo(dataPath).Length;
        if (_dataLength > 0)
        {
            _map = MemoryMappedFile.CreateFromFile(dataPath, FileMode.Open, null, 0, MemoryMappedFileAccess.Read);
            _view = _map.CreateViewAccessor(0, 0, MemoryMappedFileAccess.Read);
            byte* p = null;
            _view.SafeMemoryMappedViewHandle.AcquirePointer(ref p);
            _data = p + _view.PointerOffset;
        }

        var view = new TraceView(trace.Recorder);
        _flushAcks = [.. trace.Recorder.Requests.Where(r => r.Op == BlockOp.Flush && view.Of(r.Sequence).AckedOk).Select(r => view.Of(r.Sequence).Ack)];
        _syncs = [.. view.Syncs.Where(s => s.End != TraceView.Never).Select(s => (s.Start, s.End))];
    }

    /// <summary>The power-cut model of the trace.</summary>
    public PowerCutModel Model { get; }

    /// <summary>
    /// <paramref name="count"/> clocks to crash at: half uniformly over the run, a quarter right
    /// after a flush's acknowledgement (when the most has just been promised), a quarter inside a
    /// sync (a journal commit's flush in progress); uniform where the trace has no flushes.
    /// </summary>
    public long[] ChooseClocks(int count, Random random)
    {
        ArgumentNullException.ThrowIfNull(random);
        var clocks = new long[count];
        for (int i = 0; i < count; i++)
        {
            int kind = i % 4;
            clocks[i] = kind == 1 && _flushAcks.Length > 0 ? _flushAcks[random.Next(_flushAcks.Length)]
                : kind == 3 && _syncs.Length > 0 ? Inside(_syncs[random.Next(_syncs.Length)], random)
                : random.NextInt64(1, Model.LastClock + 1);
        }

        return clocks;
    }

    /// <summary>
    /// Samples one crash image right after <paramref name="clock"/> with <paramref name="random"/>,
    /// writes it to <paramref name="path"/> (sparse), and audits it against the contract.
    /// </summary>
    public CrashImage Render(long clock, Random random, string path)
    {
        ArgumentNullException.ThrowIfNull(random);
        ulong[] values = Model.SampleImage(clock, random, _atomicSectors);

        // Back to the initial file where the previous image differed from it.
        foreach (ulong s in _changed)
        {
            _initial.AsSpan((int)(s * BlockRequest.SectorSize), BlockRequest.SectorSize).CopyTo(_image.AsSpan((int)(s * BlockRequest.SectorSize)));
        }

        _changed.Clear();
        IReadOnlyList<RequestRecord> requests = _trace.Recorder.Requests;
        WriteDataLog data = _trace.Recorder.Data!;
        long violations = 0;
        for (ulong s = 0; s < (ulong)values.Length; s++)
        {
            ulong v = values[s];
            if (!Model.IsAllowed(s, clock, new SectorValue(v, v == 0 ? SectorStatus.Zero : SectorStatus.Valid)))
            {
                violations++;
            }

            if (v == 0)
            {
                continue;
            }

            _changed.Add(s);
            Span<byte> sector = _image.AsSpan((int)(s * BlockRequest.SectorSize), BlockRequest.SectorSize);
            RequestRecord r = requests[(int)v - 1];
            if (r.Op == BlockOp.Write)
            {
                if (!data.TryFind(r.Sequence, out long offset, out int length))
                {
                    throw new InvalidDataException($"the model chose request #{r.Sequence} for sector {s}, but the data log has none of its data");
                }

                long at = offset + ((long)(s - r.StartSector) * BlockRequest.SectorSize);
                if (at + BlockRequest.SectorSize > offset + length || at + BlockRequest.SectorSize > _dataLength)
                {
                    throw new InvalidDataException($"request #{r.Sequence}'s data ends before sector {s}");
                }

                new ReadOnlySpan<byte>(_data + at, BlockRequest.SectorSize).CopyTo(sector);
            }
            else
            {
                // Discard and write-zeroes read back as zeros from the file (punched or zeroed).
                sector.Clear();
            }
        }

        WriteSparse(path);
        return new CrashImage(clock, _trace.NanosecondsAt(clock), _changed.Count, violations);
    }

    /// <inheritdoc />
    public void Dispose()
    {
        if (_view is not null)
        {
            _view.SafeMemoryMappedViewHandle.ReleasePointer();
            _view.Dispose();
        }

        _map?.Dispose();
    }

    private static long Inside((long Start, long End) sync, Random random) => random.NextInt64(sync.Start, sync.End + 1);

    private void WriteSparse(string path)
    {
        // One write per run of non-zero pages: a page at a time costs a syscall each under emulation.
        using var file = new FileStream(path, FileMode.Create, FileAccess.Write, FileShare.None, 0);
        int runStart = -1;
        for (int at = 0; at <= _image.Length; at += HoleGranule)
        {
            bool data = at < _image.Length && _image.AsSpan(at, Math.Min(HoleGranule, _image.Length - at)).ContainsAnyExcept((byte)0);
            if (data && runStart < 0)
            {
                runStart = at;
            }
            else if (!data && runStart >= 0)
            {
                RandomAccess.Write(file.SafeFileHandle, _image.AsSpan(runStart, Math.Min(at, _image.Length) - runStart), runStart);
                runStart = -1;
            }
        }

        file.SetLength(_image.Length);
    }
}
