using System.Diagnostics;
using System.Numerics;
using LoopOrder.Interop;
using LoopOrder.Queues.Ordering;
using LoopOrder.Queues.Dispatch;
using LoopOrder.Queues.Requests;

namespace LoopOrder.Queues.Tracking;

/// <summary>
/// Changed-block tracking of one device (issue 15): which regions were written, discarded or
/// zeroed in the current generation, kept crash-safe by one rule: <b>a region's bit is durable in
/// the metadata file before any write touching that region is dispatched to the backend</b> (as
/// dm-era commits its write set). After a SIGKILL, a power cut or a failed write the tracked set
/// is therefore never smaller than what changed.
/// </summary>
/// <remarks>
/// <para>Writes to regions already durable in this generation pass through <see cref="Admit"/> with
/// a few bit tests and no lock or allocation. A write touching a region not yet durable is held
/// (linked through the request itself, nothing allocated), its regions join the next metadata
/// commit, and it is released when that commit's fdatasync returns. Commits are grouped: one runs
/// at a time, and every region asked for while it runs goes into the next one, which covers all
/// of them with one write and one sync.</para>
/// <para>The commit runs on the tracker's own thread (or, with <see cref="TrackerOptions.ManualCommits"/>,
/// when <see cref="RunCommit"/> is called), never on a ublk queue thread: a held write is simply
/// not dispatched yet, the way the Sequencer holds a write behind an overlap.</para>
/// <para>A failed metadata write or sync fails every held write with EIO and latches: from then on
/// a write to an unmarked region fails at once, so no write ever lands unmarked.</para>
/// <para>Generations: the A/B slots hold the current generation's bitmap. A snapshot closes it at
/// its barrier (<see cref="CloseGeneration"/>, while every write received after the barrier is
/// held): the closed bitmap is written to its own checksummed slot after the A/B pair and synced,
/// then the A/B pair is switched to the next, empty, generation. <see cref="ChangedSince"/> unions
/// generations for <c>loop-order changes</c>.</para>
/// </remarks>
public sealed class ChangeTracker : IWriteGate
{
    /// <summary>Largest region: 1 GiB.</summary>
    public const int MaxRegionSize = 1 << 30;

    private readonly Lock _gate = new();
    private readonly ITrackerStore _store;
    private readonly ISequencerMutant? _mutant;
    private readonly IChangeTrackerObserver? _observer;

    /// <summary>Region index of a sector: sector >> this.</summary>
    private readonly int _regionSectorShift;

    /// <summary>Bits durable in the metadata file. Read without the lock (see <see cref="RegionMap"/>).</summary>
    private readonly RegionMap _durable;

    /// <summary>Bits durable, being committed, or waiting for the next commit. Under the lock.</summary>
    private readonly RegionMap _wanted;

    /// <summary>The bits the commit in flight writes (a copy of <see cref="_wanted"/> when it started).</summary>
    private readonly RegionMap _committing;

    /// <summary>The slot the commit in flight encodes into; only the committing thread touches it.</summary>
    private readonly byte[] _slotBuffer;

    private readonly long _slotSize;

    /// <summary>The commit thread, or null with manual commits.</summary>
    private readonly Thread? _thread;

    /// <summary>Counts requests for a commit; the thread waits on it.</summary>
    private readonly SemaphoreSlim _signal = new(0);

    private IGateSink? _sink;

    /// <summary>Writes held for the commit in flight, and for the next one (singly linked by <see cref="BlockRequest.TrackNext"/>).</summary>
    private BlockRequest? _heldNow, _heldNowTail, _heldNext, _heldNextTail;

    private bool _commitInFlight;

    /// <summary>The last commit's sequence number and the slot (0 or 1) the next commit writes.</summary>
    private ulong _sequence;

    private int _nextSlot;

    private ulong _generation;

    /// <summary>0, or the negative errno every write to an unmarked region now fails with.</summary>
    private int _latchedError;

    private long _commits, _heldWrites;

    private volatile bool _disposed;

    /// <summary>Closed generations up to this one have had their slots given back (since this tracker opened; <see cref="Prune"/>); under <see cref="_closeGate"/>.</summary>
    private ulong _prunedThrough;

    /// <summary>Serializes closing a generation with reading closed ones (their slots are written outside <see cref="_gate"/>).</summary>
    private readonly Lock _closeGate = new();

    /// <summary>Opens (or creates) the tracker of a device of <paramref name="deviceBytes"/> over <paramref name="store"/>, which it then owns.</summary>
    /// <param name="store">The metadata.</param>
    /// <param name="deviceBytes">The device size: one bit per region of it.</param>
    /// <param name="logicalBlockSize">The device's logical block size: the region size must be a multiple of it.</param>
    /// <param name="options">Region size and commit mode (<see cref="TrackerOptions.MetadataPath"/> is not used here).</param>
    /// <param name="mutant">A deliberate breakage for checker tests (<see cref="ISequencerMutant.ShouldSkipMarkWait"/>); null everywhere else.</param>
    /// <param name="observer">Optional recorder of marks.</param>
    /// <exception cref="ArgumentOutOfRangeException">The region size is not a power of two, is below the block size or above <see cref="MaxRegionSize"/>.</exception>
    /// <exception cref="InvalidDataException">The metadata holds no valid slot, or its regions have another size.</exception>
    /// <exception cref="IOException">The metadata could not be read, or (new) written and synced.</exception>
    public ChangeTracker(ITrackerStore store, long deviceBytes, int logicalBlockSize, TrackerOptions options,
        ISequencerMutant? mutant = null, IChangeTrackerObserver? observer = null)
    {
        ArgumentNullException.ThrowIfNull(store);
        ArgumentNullException.ThrowIfNull(options);
        ArgumentOutOfRangeException.ThrowIfNegative(deviceBytes);
        int regionSize = options.RegionSize;
        if (!BitOperations.IsPow2(regionSize) || regionSize < Math.Max(logicalBlockSize, BlockRequest.SectorSize) || regionSize > MaxRegionSize)
        {
            throw new ArgumentOutOfRangeException(nameof(options), regionSize,
                $"The region size must be a power of two from the logical block size ({logicalBlockSize}) to 1 GiB.");
        }

        _store = store;
        _mutant = mutant;
        _observer = observer;
        RegionSize = regionSize;
        _regionSectorShift = BitOperations.Log2((uint)regionSize) - BlockRequest.SectorShift;
        long count = (deviceBytes + regionSize - 1) / regionSize;
        _durable = new RegionMap(count);
        _wanted = new RegionMap(count);
        _committing = new RegionMap(count);
        _slotSize = TrackerMetadata.SlotSize(count);
        _slotBuffer = new byte[_slotSize];
        Load();
        if (!options.ManualCommits)
        {
            _thread = new Thread(CommitLoop) { IsBackground = true, Name = "cbt-commit" };
            _thread.Start();
        }
    }

    /// <summary>Opens the tracker whose metadata file <paramref name="options"/> names (created if missing).</summary>
    /// <inheritdoc cref="ChangeTracker(ITrackerStore, long, int, TrackerOptions, ISequencerMutant?, IChangeTrackerObserver?)"/>
    public static ChangeTracker Open(TrackerOptions options, long deviceBytes, int logicalBlockSize)
    {
        ArgumentNullException.ThrowIfNull(options);
        FileTrackerStore store = FileTrackerStore.Open(options.MetadataPath);
        try
        {
            return new ChangeTracker(store, deviceBytes, logicalBlockSize, options);
        }
        catch
        {
            store.Dispose();
            throw;
        }
    }

    /// <summary>Bytes a bit stands for.</summary>
    public int RegionSize { get; }

    /// <summary>Regions tracked.</summary>
    public long RegionCount => _durable.Count;

    /// <summary>The generation the bitmap belongs to.</summary>
    public ulong Generation
    {
        get
        {
            lock (_gate)
            {
                return _generation;
            }
        }
    }

    /// <summary>Metadata commits completed since the tracker opened (each one write and one fdatasync).</summary>
    public long Commits => Interlocked.Read(ref _commits);

    /// <summary>Writes held for a commit since the tracker opened.</summary>
    public long HeldWrites => Interlocked.Read(ref _heldWrites);

    /// <summary>True once a metadata write or sync failed.</summary>
    public bool IsFailed => Volatile.Read(ref _latchedError) != 0;

    /// <summary>Whether region <paramref name="region"/>'s bit is durable.</summary>
    public bool IsMarked(long region) => _durable.Test(region);

    /// <summary>The regions whose bits are durable, in order.</summary>
    public IEnumerable<long> MarkedRegions => _durable.SetRegions();

    /// <summary>The regions <paramref name="startSector"/> and <paramref name="sectorCount"/> touch (first and last, inclusive).</summary>
    public (long First, long Last) RegionsOf(ulong startSector, uint sectorCount) =>
        ((long)(startSector >> _regionSectorShift), (long)((startSector + Math.Max(sectorCount, 1u) - 1) >> _regionSectorShift));

    /// <summary>Connects the dispatcher that releases and fails held writes; once, before the first write.</summary>
    public void Attach(IGateSink sink) => GateSink.AttachOnce(ref _sink, sink, "tracker");

    /// <summary>
    /// Decides whether <paramref name="request"/> may be dispatched now: 1 when it may (not a
    /// write, or its regions are durable), 0 when it is held (the sink gets it later), or a
    /// negative errno it fails with (the tracker has failed, or the device grew past the map).
    /// Any thread; never blocks on I/O.
    /// </summary>
    public int Admit(BlockRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        if (!request.IsWriteClass)
        {
            return 1;
        }

        (long first, long last) = RegionsOf(request.StartSector, request.SectorCount);
        if (last >= _durable.Count)
        {
            // A resize grew the device past the map: such a write could land untracked.
            return Errno.EIO.ToResult();
        }

        if (_durable.TestAll(first, last))
        {
            return 1;
        }

        bool signal = false;
        int verdict;
        lock (_gate)
        {
            if (_latchedError != 0)
            {
                return _latchedError;
            }

            if (_durable.TestAll(first, last))
            {
                return 1;
            }

            for (long r = first; r <= last; r++)
            {
                _wanted.Set(r);
            }

            if (_mutant is not null && _mutant.ShouldSkipMarkWait(request))
            {
                verdict = 1;
            }
            else
            {
                verdict = 0;
                _heldWrites++;
                request.TrackNext = null;
                if (_commitInFlight && _committing.TestAll(first, last))
                {
                    Append(ref _heldNow, ref _heldNowTail, request);
                }
                else
                {
                    Append(ref _heldNext, ref _heldNextTail, request);
                }
            }

            if (!_commitInFlight)
            {
                StartCommit();
                signal = true;
            }
        }

        if (signal && _thread is not null)
        {
            _signal.Release();
        }

        return verdict;
    }

    /// <summary>
    /// Runs the commit that is due, if any: writes the bitmap to the older slot, fdatasyncs, then
    /// releases the writes held for it (or fails them). True when a commit ran. The commit thread
    /// calls it; with <see cref="TrackerOptions.ManualCommits"/>, the test or the checker does.
    /// </summary>
    public bool RunCommit()
    {
        TrackerSlotHeader header;
        long offset;
        lock (_gate)
        {
            if (!_commitInFlight)
            {
                return false;
            }

            header = new TrackerSlotHeader(_sequence + 1, _generation, RegionSize, _durable.Count);
            offset = _nextSlot * _slotSize;
        }

        // _committing and the buffer change only when a commit starts, and none can start while this one is in flight.
        bool ok;
        try
        {
            TrackerMetadata.Encode(_slotBuffer, header, _committing);
            _store.Write(offset, _slotBuffer);
            _store.Sync();
            ok = true;
        }
        catch (IOException)
        {
            ok = false;
        }

        BlockRequest? release, fail = null;
        bool again = false;
        lock (_gate)
        {
            _commitInFlight = false;
            release = _heldNow;
            _heldNow = _heldNowTail = null;
            if (ok)
            {
                _sequence = header.Sequence;
                _nextSlot ^= 1;
                _commits++;
                ulong generation = _generation;
                _durable.OrFrom(_committing, _observer is null ? null : r => _observer.Marked(generation, r));
                if (_heldNext is not null || (_mutant is not null && HasUnmarkedWanted()))
                {
                    StartCommit();
                    again = true;
                }
            }
            else
            {
                // Never let a write land unmarked: everything held fails, and so does every later first touch.
                _latchedError = Errno.EIO.ToResult();
                fail = release;
                release = null;
                Append(ref fail, _heldNext);
                _heldNext = _heldNextTail = null;
            }
        }

        IGateSink? sink = _sink;
        Debug.Assert(sink is not null || (release is null && fail is null), "writes held with no dispatcher attached");
        for (BlockRequest? r = release; r is not null;)
        {
            BlockRequest? next = r.TrackNext;
            r.TrackNext = null;
            sink!.Release(r);
            r = next;
        }

        for (BlockRequest? r = fail; r is not null;)
        {
            BlockRequest? next = r.TrackNext;
            r.TrackNext = null;
            sink!.Fail(r, Errno.EIO.ToResult());
            r = next;
        }

        if (again && _thread is not null)
        {
            _signal.Release();
        }

        return true;
    }

    /// <summary>
    /// Closes the current generation and starts the next; returns the closed one's number. Call it
    /// only at a snapshot barrier, after the drain: every write received before the barrier has
    /// landed (so its bits are durable in this generation or an earlier one) and every write
    /// received after it is held by the Sequencer, not yet admitted here, so it is marked in the
    /// next generation. The closed bitmap is written to its own slot and synced before the A/B
    /// slots switch to the next generation (written and synced too), so a crash at any point
    /// leaves either the old generation current (a later snapshot rewrites its closed slot) or
    /// the closed slot durable and the next generation current.
    /// </summary>
    /// <exception cref="InvalidOperationException">A write is waiting for a mark or a commit is in flight: this is not a drained barrier.</exception>
    /// <exception cref="IOException">The tracker has failed, or writing or syncing the slots failed; the current generation is unchanged in memory.</exception>
    public ulong CloseGeneration()
    {
        lock (_closeGate)
        {
            ulong closed;
            ulong sequence;
            int slot;
            lock (_gate)
            {
                if (_latchedError != 0)
                {
                    throw new IOException("the change tracker failed to write its metadata earlier; its generations cannot be closed");
                }

                if (_commitInFlight || _heldNow is not null || _heldNext is not null)
                {
                    throw new InvalidOperationException("writes are waiting for their regions' marks: a generation closes only at a drained snapshot barrier");
                }

                closed = _generation;
                sequence = _sequence;
                slot = _nextSlot;

                // Nothing is admitted while the barrier holds writes, and no commit runs: the
                // commit buffers are free, and the durable bits are exactly this generation's.
                _committing.CopyFrom(_durable);
            }

            TrackerMetadata.Encode(_slotBuffer, new TrackerSlotHeader(sequence, closed, RegionSize, _durable.Count), _committing);
            _store.Write(ClosedSlotOffset(closed), _slotBuffer);
            _store.Sync();
            _committing.Clear();
            TrackerMetadata.Encode(_slotBuffer, new TrackerSlotHeader(sequence + 1, closed + 1, RegionSize, _durable.Count), _committing);
            _store.Write(slot * _slotSize, _slotBuffer);
            _store.Sync();
            lock (_gate)
            {
                _sequence = sequence + 1;
                _nextSlot = slot ^ 1;
                _generation = closed + 1;

                // From here a write to any region takes the slow path and is marked in the new generation first.
                _durable.Clear();
                _wanted.Clear();
            }

            return closed;
        }
    }

    /// <summary>
    /// The regions changed after generation <paramref name="after"/> up to generation
    /// <paramref name="through"/> (inclusive; null for up to now, the current generation's bits
    /// included, those still being committed too): the union of those generations' bitmaps.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="through"/> is before <paramref name="after"/>, or past the current generation.</exception>
    /// <exception cref="InvalidDataException">A closed generation's slot is missing or corrupt.</exception>
    public RegionMap ChangedSince(ulong after, ulong? through = null)
    {
        var union = new RegionMap(_durable.Count);
        lock (_closeGate)
        {
            ulong current = Generation;
            ulong last = through ?? current;
            if (last < after || last > current)
            {
                throw new ArgumentOutOfRangeException(nameof(through), through, $"generations run from after {after} to at most the current {current}");
            }

            byte[] buffer = new byte[_slotSize];
            for (ulong g = after + 1; g <= last; g++)
            {
                if (g == current)
                {
                    lock (_gate)
                    {
                        union.OrFrom(_wanted);
                    }

                    continue;
                }

                int n = _store.Read(ClosedSlotOffset(g), buffer);
                var bits = new RegionMap(_durable.Count);
                if (TrackerMetadata.TryDecode(buffer.AsSpan(0, n), bits) is not { } h || h.Generation != g || h.RegionSize != RegionSize)
                {
                    throw new InvalidDataException($"the tracking metadata lacks a valid record of generation {g}: the changes since it cannot be told (a full backup is needed)");
                }

                union.OrFrom(bits);
            }
        }

        return union;
    }

    /// <summary>
    /// Gives back the slots of closed generations up to <paramref name="through"/> (no later than
    /// the last closed one): a snapshot deleted leaves generations no remaining snapshot's
    /// <c>changes --since</c> can reach (those at or before the oldest remaining snapshot's), and
    /// each holds a whole bitmap (2 KiB per GiB at 64 KiB regions) for as long as the file lives.
    /// Returns how many slots were given back now. <see cref="ChangedSince"/> from before
    /// <paramref name="through"/> then fails as for a lost record.
    /// </summary>
    /// <exception cref="IOException">Discarding failed (nothing is lost: the slots stay).</exception>
    public int Prune(ulong through)
    {
        lock (_closeGate)
        {
            ulong last = Math.Min(through, Generation - 1);
            int pruned = 0;
            for (ulong g = _prunedThrough + 1; g <= last; g++)
            {
                _store.Discard(ClosedSlotOffset(g), _slotSize);
                pruned++;
            }

            _prunedThrough = Math.Max(_prunedThrough, last);
            return pruned;
        }
    }

    /// <summary>Where closed generation <paramref name="generation"/> (1 or more) keeps its bitmap: after the A/B slots, one slot each.</summary>
    private long ClosedSlotOffset(ulong generation) => checked((long)(generation + 1) * _slotSize);

    /// <summary>True when a commit is due (manual mode: call <see cref="RunCommit"/>).</summary>
    public bool CommitDue
    {
        get
        {
            lock (_gate)
            {
                return _commitInFlight;
            }
        }
    }

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
        _store.Dispose();
    }

    private static void Append(ref BlockRequest? head, ref BlockRequest? tail, BlockRequest r)
    {
        if (tail is null)
        {
            head = r;
        }
        else
        {
            tail.TrackNext = r;
        }

        tail = r;
    }

    private static void Append(ref BlockRequest? head, BlockRequest? chain)
    {
        if (head is null)
        {
            head = chain;
            return;
        }

        BlockRequest last = head;
        while (last.TrackNext is not null)
        {
            last = last.TrackNext;
        }

        last.TrackNext = chain;
    }

    /// <summary>Whether some wanted bit is not durable (a mutant let a write through without waiting). Under the lock.</summary>
    private bool HasUnmarkedWanted()
    {
        foreach (long r in _wanted.SetRegions())
        {
            if (!_durable.Test(r))
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>Under the lock: the next commit covers every bit wanted now, and the writes waiting for it.</summary>
    private void StartCommit()
    {
        _committing.CopyFrom(_wanted);
        _heldNow = _heldNext;
        _heldNowTail = _heldNextTail;
        _heldNext = _heldNextTail = null;
        _commitInFlight = true;
    }

    private void CommitLoop()
    {
        while (true)
        {
            _signal.Wait();
            if (_disposed)
            {
                return;
            }

            while (RunCommit())
            {
            }
        }
    }

    /// <summary>
    /// Reads both slots and adopts the valid one with the higher sequence; a new (empty) file gets
    /// its first slot written and synced. A file with content but no valid slot is refused: its
    /// tracked set is lost, and starting over silently would hide that.
    /// </summary>
    private void Load()
    {
        TrackerSlotHeader? best = null;
        int bestSlot = 0;
        bool anyBytes = false;
        var scratch = new RegionMap(_durable.Count);
        for (int slot = 0; slot < 2; slot++)
        {
            Array.Clear(_slotBuffer);
            int n = _store.Read(slot * _slotSize, _slotBuffer);
            anyBytes |= n > 0;
            if (TrackerMetadata.TryDecode(_slotBuffer.AsSpan(0, n)) is not { } h)
            {
                continue;
            }

            if (h.RegionSize != RegionSize)
            {
                throw new InvalidDataException($"The tracking metadata has regions of {h.RegionSize} bytes, not {RegionSize}.");
            }

            if (TrackerMetadata.SlotSize(h.RegionCount) != _slotSize)
            {
                // Slot B and the closed generations' slots sit at multiples of the slot size: read
                // with another one, they are misplaced, and an older slot could pass for the newest.
                throw new InvalidDataException($"The tracking metadata is for a device of {h.RegionCount} regions of {RegionSize} bytes, this one has {_durable.Count}: the device's size changed. Move the metadata file away to start over (every earlier snapshot then needs a full backup).");
            }

            if (best is null || h.Sequence > best.Value.Sequence)
            {
                best = h;
                bestSlot = slot;
            }
        }

        if (best is { } found)
        {
            // A slot of a slightly different region count (same slot size) keeps the regions both have.
            int n = _store.Read(bestSlot * _slotSize, _slotBuffer);
            TrackerMetadata.TryDecode(_slotBuffer.AsSpan(0, n), scratch);
            _durable.OrFrom(scratch);
            _wanted.OrFrom(scratch);
            _sequence = found.Sequence;
            _generation = found.Generation;
            _nextSlot = bestSlot ^ 1;
            return;
        }

        if (anyBytes)
        {
            throw new InvalidDataException("The tracking metadata holds no valid slot: the tracked set is lost (delete the file to start over; every earlier snapshot then needs a full backup).");
        }

        _generation = 1;
        _committing.CopyFrom(_wanted);
        TrackerMetadata.Encode(_slotBuffer, new TrackerSlotHeader(1, _generation, RegionSize, _durable.Count), _committing);
        _store.Write(0, _slotBuffer);
        _store.Sync();
        _sequence = 1;
        _nextSlot = 1;
    }
}
