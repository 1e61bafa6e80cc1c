using System.Diagnostics;
using System.Numerics;
using LoopOrder.Interop;
using LoopOrder.Queues.Dispatch;
using LoopOrder.Queues.Requests;
using LoopOrder.Queues.Tracking;

namespace LoopOrder.Queues.Snapshots;

/// <summary>
/// The copy-on-write snapshots of one device (issue 15, for backing filesystems without reflink:
/// ext4, the common case). One rule: <b>before a write, discard or write-zeroes reaches a chunk of
/// the backing file for the first time since a snapshot, the chunk's old contents are in that
/// snapshot's <see cref="CowStore"/> and fdatasynced</b>. So the snapshot, the store over the live
/// file, reads as the device did at the snapshot's barrier, after a SIGKILL or a power cut too.
/// </summary>
/// <remarks>
/// <para>A write to chunks every store already holds passes <see cref="Admit"/> with a volatile
/// read and a few bit tests, no lock, no allocation; with no snapshots, one read. A first touch is
/// held (linked through the request, nothing allocated) and the copy thread preserves its chunks
/// in every store that lacks them: read from the live file, appended, one fdatasync per store per
/// round, then the writes are released. Rounds are grouped: whatever arrives during one waits for
/// the next, which copies all of it.</para>
/// <para>Nothing else is held: a write to chunks already preserved goes on while a round copies
/// others, and reads never wait. The Sequencer has already ordered the writes (an overlapping
/// later write waits for an earlier one to land), so the chunk a round reads has no write of
/// this device in flight: every write to it since the snapshot is held here.</para>
/// <para>A store that fails (ENOSPC, EIO) is marked invalid in its header and dropped, and the
/// writes go on: a full snapshot store must not stop the guest's disk (dm-snapshot does the same).
/// Only when even that mark cannot be written are the held writes failed with EIO, and every later
/// first touch with them: a write must never land over a chunk a store still claims to keep.</para>
/// </remarks>
public sealed class CopyOnWrite : IWriteGate
{
    /// <summary>Default chunk: 64 KiB, the changed-block tracker's default region, so one first touch costs one 64 KiB copy, and a store's records are 0.8 % headers.</summary>
    public const int DefaultChunkSize = 64 * 1024;

    private readonly Lock _gate = new();

    /// <summary>Held by a copy round from start to end; <see cref="Remove"/> takes it, so a store is never dropped mid-round.</summary>
    private readonly Lock _roundGate = new();

    private readonly ICowSource _source;

    /// <summary>Chunk number of a sector: sector >> this.</summary>
    private readonly int _chunkSectorShift;

    /// <summary>The copy thread, or null when rounds are run by <see cref="RunCopy"/> (tests).</summary>
    private readonly Thread? _thread;

    private readonly SemaphoreSlim _signal = new(0);

    /// <summary>One chunk read from the live file; only the copy round uses it.</summary>
    private readonly byte[] _chunk;

    /// <summary>The chunks a round appended per store (the store's index in the round's array); reused.</summary>
    private readonly HashSet<long>[] _appended;

    /// <summary>The live stores, oldest first; replaced whole (under <see cref="_gate"/>), read without a lock.</summary>
    private volatile CowStore[] _stores = [];

    /// <summary>Chunks every live store holds (so a write to them needs nothing); replaced by an empty map when a store is added.</summary>
    private volatile RegionMap _covered;

    /// <summary>Writes held for the next round (singly linked by <see cref="BlockRequest.CopyNext"/>); under <see cref="_gate"/>.</summary>
    private BlockRequest? _held, _heldTail;

    /// <summary>A round has been asked for and not yet taken; under <see cref="_gate"/>.</summary>
    private bool _roundDue;

    /// <summary>0, or the negative errno every first touch fails with (an invalid store could not be marked so).</summary>
    private int _latchedError;

    private IGateSink? _sink;

    private long _copiedChunks, _rounds, _heldWrites;

    private volatile bool _disposed;

    /// <summary>A gate for a device of <paramref name="deviceBytes"/> whose live contents <paramref name="source"/> reads (owned from here).</summary>
    /// <param name="source">The backing file, read for old contents (and for chunks a store does not hold, when a snapshot is exported).</param>
    /// <param name="deviceBytes">The device size.</param>
    /// <param name="chunkSize">Copy granularity: a power of two from 4 KiB to 1 MiB (stores of another chunk size cannot join).</param>
    /// <param name="manualRounds">Run no thread: the test calls <see cref="RunCopy"/>.</param>
    /// <param name="maxStores">The most snapshots a round may write to (sizes the per-store lists).</param>
    public CopyOnWrite(ICowSource source, long deviceBytes, int chunkSize = DefaultChunkSize, bool manualRounds = false, int maxStores = 64)
    {
        ArgumentNullException.ThrowIfNull(source);
        if (!BitOperations.IsPow2(chunkSize) || chunkSize < 4096 || chunkSize > (1 << 20))
        {
            throw new ArgumentOutOfRangeException(nameof(chunkSize), chunkSize, "The copy-on-write chunk must be a power of two from 4 KiB to 1 MiB.");
        }

        _source = source;
        DeviceBytes = deviceBytes;
        ChunkSize = chunkSize;
        MaxStores = maxStores;
        _chunkSectorShift = BitOperations.Log2((uint)chunkSize) - BlockRequest.SectorShift;
        _chunk = new byte[chunkSize];
        _appended = new HashSet<long>[maxStores];
        for (int i = 0; i < maxStores; i++)
        {
            _appended[i] = [];
        }

        _covered = new RegionMap(ChunkCount);
        if (!manualRounds)
        {
            _thread = new Thread(CopyLoop) { IsBackground = true, Name = "cow-copy" };
            _thread.Start();
        }
    }

    /// <summary>Bytes a record preserves.</summary>
    public int ChunkSize { get; }

    /// <summary>The device size the gate was built for.</summary>
    public long DeviceBytes { get; }

    /// <summary>Chunks of the device.</summary>
    public long ChunkCount => (DeviceBytes + ChunkSize - 1) / ChunkSize;

    /// <summary>The most snapshots at once.</summary>
    public int MaxStores { get; }

    /// <summary>The live stores, oldest first.</summary>
    public IReadOnlyList<CowStore> Stores => _stores;

    /// <summary>Chunks copied into some store since the gate was built.</summary>
    public long CopiedChunks => Interlocked.Read(ref _copiedChunks);

    /// <summary>Copy rounds run (each one fdatasync per store it wrote).</summary>
    public long Rounds => Interlocked.Read(ref _rounds);

    /// <summary>Writes held for a copy since the gate was built.</summary>
    public long HeldWrites => Interlocked.Read(ref _heldWrites);

    /// <summary>Called (on the copy thread) when a store failed and was dropped, with why; the service logs it.</summary>
    public Action<CowStore, Exception>? StoreFailed { get; set; }

    /// <summary>Connects the dispatcher that releases and fails held writes; once, before the first write.</summary>
    public void Attach(IGateSink sink) => GateSink.AttachOnce(ref _sink, sink, "copy-on-write gate");

    /// <summary>
    /// Adds a new snapshot's store. Call it only at a drained snapshot barrier (in the cut): every
    /// write received before it has landed, none received after it has been admitted, so the
    /// live file is the snapshot and from the next write on every first touch is preserved.
    /// </summary>
    /// <exception cref="ArgumentException">The store's chunk size or device size differs from the gate's.</exception>
    /// <exception cref="InvalidOperationException">Writes are held for a copy (not a drained barrier), or <see cref="MaxStores"/> are live.</exception>
    public void Add(CowStore store)
    {
        ArgumentNullException.ThrowIfNull(store);
        if (store.Header.ChunkSize != ChunkSize || store.Header.DeviceBytes > DeviceBytes)
        {
            throw new ArgumentException($"{store.Path} has {store.Header.ChunkSize}-byte chunks over {store.Header.DeviceBytes} bytes; this device copies {ChunkSize}-byte chunks of {DeviceBytes} bytes.", nameof(store));
        }

        lock (_gate)
        {
            if (_held is not null)
            {
                throw new InvalidOperationException("writes are waiting for a copy: a copy-on-write store joins only at a drained snapshot barrier");
            }

            if (_stores.Length >= MaxStores)
            {
                throw new InvalidOperationException($"this device already keeps {MaxStores} copy-on-write snapshots; delete one first");
            }

            _stores = [.. _stores, store];

            // No chunk is held by the new store: every first touch from here takes the slow path.
            _covered = new RegionMap(ChunkCount);
        }
    }

    /// <summary>
    /// Adopts a store that already holds chunks (reopened after a restart), whatever the device
    /// saw meanwhile: before the device serves any request.
    /// </summary>
    public void Adopt(CowStore store) => Add(store);

    /// <summary>Drops <paramref name="store"/> (snapshot delete): waits for a copy round in progress, then no write is held for it.</summary>
    /// <returns>False when it was not live.</returns>
    public bool Remove(CowStore store)
    {
        ArgumentNullException.ThrowIfNull(store);
        lock (_roundGate)
        {
            return Drop(store);
        }
    }

    /// <summary>
    /// Decides whether <paramref name="request"/> may be dispatched now: 1 when it may (not a
    /// write, no snapshot, or every store holds its chunks), 0 when it is held (the sink gets it
    /// after the copy), or a negative errno it fails with. Any thread; never blocks on I/O.
    /// </summary>
    public int Admit(BlockRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        if (!request.IsWriteClass || _stores.Length == 0)
        {
            return 1;
        }

        (long first, long last) = ChunksOf(request.StartSector, request.SectorCount);
        RegionMap covered = _covered;
        last = Math.Min(last, covered.Count - 1);
        if (first > last || covered.TestAll(first, last))
        {
            return 1;
        }

        bool signal = false;
        lock (_gate)
        {
            if (_latchedError != 0)
            {
                return _latchedError;
            }

            if (_stores.Length == 0)
            {
                return 1;
            }

            _heldWrites++;
            request.CopyNext = null;
            if (_heldTail is null)
            {
                _held = request;
            }
            else
            {
                _heldTail.CopyNext = request;
            }

            _heldTail = request;
            if (!_roundDue)
            {
                _roundDue = true;
                signal = true;
            }
        }

        if (signal && _thread is not null)
        {
            _signal.Release();
        }

        return 0;
    }

    /// <summary>
    /// Runs the copy round that is due, if any: preserves every chunk the held writes touch in
    /// every store that lacks it, syncs each store written, then releases the writes. True when a
    /// round ran. The copy thread calls it; with manual rounds, the test does.
    /// </summary>
    public bool RunCopy()
    {
        lock (_roundGate)
        {
            BlockRequest? held;
            CowStore[] stores;
            lock (_gate)
            {
                if (!_roundDue)
                {
                    return false;
                }

                _roundDue = false;
                held = _held;
                _held = _heldTail = null;
                stores = _stores;
            }

            bool failed = false;
            try
            {
                Copy(held, stores);
            }
            catch (Exception e) when (e is IOException or InvalidDataException)
            {
                failed = true;
            }

            Interlocked.Increment(ref _rounds);
            IGateSink? sink = _sink;
            Debug.Assert(sink is not null || held is null, "writes held with no dispatcher attached");
            for (BlockRequest? r = held; r is not null;)
            {
                BlockRequest? next = r.CopyNext;
                r.CopyNext = null;
                if (failed)
                {
                    sink!.Fail(r, Errno.EIO.ToResult());
                }
                else
                {
                    sink!.Release(r);
                }

                r = next;
            }

            return true;
        }
    }

    /// <summary>
    /// Reads chunk <paramref name="chunk"/> of snapshot <paramref name="store"/> as it was at its
    /// barrier, while the device serves: from the store if it holds the chunk, else from the live
    /// file, and then from the store after all if the chunk was preserved meanwhile (an overwrite
    /// is dispatched only after its chunk is preserved, so a live read that finished before the
    /// chunk was preserved read the old contents).
    /// </summary>
    /// <param name="store">The snapshot (live or not).</param>
    /// <param name="chunk">The chunk.</param>
    /// <param name="destination"><see cref="ChunkSize"/> bytes.</param>
    public void ReadSnapshot(CowStore store, long chunk, Span<byte> destination)
    {
        ArgumentNullException.ThrowIfNull(store);
        if (store.ReadChunk(chunk, destination))
        {
            return;
        }

        _source.Read(chunk * ChunkSize, destination[..ChunkSize]);
        store.ReadChunk(chunk, destination);
    }

    /// <summary>The chunks a request of <paramref name="sectorCount"/> sectors at <paramref name="startSector"/> touches (first and last, inclusive).</summary>
    public (long First, long Last) ChunksOf(ulong startSector, uint sectorCount) =>
        ((long)(startSector >> _chunkSectorShift), (long)((startSector + Math.Max(sectorCount, 1u) - 1) >> _chunkSectorShift));

    /// <inheritdoc />
    public void Dispose()
    {
        if (_disposed)
        {
            return;
        }

        _disposed = true;
        if (_thread is not null)
        {
            _signal.Release();
            _thread.Join();
        }

        _signal.Dispose();
        foreach (CowStore store in _stores)
        {
            store.Dispose();
        }

        _source.Dispose();
    }

    private void Copy(BlockRequest? held, CowStore[] stores)
    {
        Debug.Assert(stores.Length <= MaxStores, "more stores than lists");
        for (int s = 0; s < stores.Length; s++)
        {
            _appended[s].Clear();
        }

        for (BlockRequest? r = held; r is not null; r = r.CopyNext)
        {
            (long first, long last) = ChunksOf(r.StartSector, r.SectorCount);
            last = Math.Min(last, ChunkCount - 1);
            for (long c = first; c <= last; c++)
            {
                bool read = false;
                for (int s = 0; s < stores.Length; s++)
                {
                    CowStore store = stores[s];
                    if (store.Header.Invalid || store.Holds(c) || c >= store.ChunkCount || _appended[s].Contains(c))
                    {
                        continue;
                    }

                    if (!read)
                    {
                        _source.Read(c * ChunkSize, _chunk);
                        read = true;
                    }

                    try
                    {
                        store.Append(c, _chunk);
                        _appended[s].Add(c);
                    }
                    catch (IOException e)
                    {
                        Invalidate(store, e);
                    }
                }
            }
        }

        for (int s = 0; s < stores.Length; s++)
        {
            CowStore store = stores[s];
            if (_appended[s].Count == 0 || store.Header.Invalid)
            {
                continue;
            }

            try
            {
                store.Sync();
            }
            catch (IOException e)
            {
                Invalidate(store, e);
                continue;
            }

            foreach (long c in _appended[s])
            {
                store.MarkPreserved(c);
            }

            Interlocked.Add(ref _copiedChunks, _appended[s].Count);
        }

        // The chunks every live store now holds need nothing more.
        RegionMap covered = _covered;
        CowStore[] live = _stores;
        for (BlockRequest? r = held; r is not null; r = r.CopyNext)
        {
            (long first, long last) = ChunksOf(r.StartSector, r.SectorCount);
            last = Math.Min(last, covered.Count - 1);
            for (long c = first; c <= last; c++)
            {
                if (Array.TrueForAll(live, st => st.Holds(c) || c >= st.ChunkCount))
                {
                    covered.Set(c);
                }
            }
        }
    }

    /// <summary>A store could not keep a chunk: mark it invalid durably and drop it, or, failing that, fail the round.</summary>
    private void Invalidate(CowStore store, IOException cause)
    {
        try
        {
            store.MarkInvalid(cause.Message);
        }
        catch (IOException)
        {
            lock (_gate)
            {
                _latchedError = Errno.EIO.ToResult();
            }

            throw;
        }

        Drop(store);
        StoreFailed?.Invoke(store, cause);
    }

    private bool Drop(CowStore store)
    {
        lock (_gate)
        {
            int i = Array.IndexOf(_stores, store);
            if (i < 0)
            {
                return false;
            }

            _stores = [.. _stores[..i], .. _stores[(i + 1)..]];

            // The covered map stays right: a chunk every store held, the remaining ones hold.
            return true;
        }
    }

    private void CopyLoop()
    {
        while (true)
        {
            _signal.Wait();
            if (_disposed)
            {
                // Nothing can be held any more: the engine drained before it disposed its dispatcher.
                RunCopy();
                return;
            }

            RunCopy();
        }
    }
}
