using System.Diagnostics;
using LoopOrder.Interop;
using LoopOrder.Queues.Backends;
using LoopOrder.Queues.Dispatch;
using LoopOrder.Queues.Requests;

namespace LoopOrder.Queues.Ordering;

/// <summary>
/// Decides when each request of one device may start, so that the ordering contract of
/// DESIGN.md holds while independent requests run in parallel:
/// <list type="bullet">
/// <item>every request gets a device-wide sequence number when it is received (receive order);</item>
/// <item>a read or write waits for every earlier unlanded write it overlaps (D3, and reads see the writes before them);</item>
/// <item>in drain and strict modes a flush's sync starts once every earlier write landed (D1),
///   even while other flushes' syncs run; flushes that become ready together share one sync, and
///   sync groups are acknowledged in the order their syncs started;</item>
/// <item>in strict mode a write received after an unacknowledged flush is held until that flush is acknowledged (D2);</item>
/// <item>a failed write or sync is latched: every flush that syncs after it fails with EIO (C5);</item>
/// <item>a snapshot barrier (<see cref="PlaceBarrier"/>) holds every write received after it until it is released.</item>
/// </list>
/// Queue threads call <see cref="Submit"/>, worker threads call <see cref="Landed"/>; one lock
/// guards all state, and dispatch and acknowledgement happen after it is released.
/// </summary>
public sealed partial class Sequencer : IBackendCompletion, IDisposable
{
    /// <summary>The largest logical block size the kernel accepts for a ublk device (its page size on x86-64).</summary>
    private const int MaxLogicalBlockSize = 4096;

    /// <summary>Guards every field below that is not readonly.</summary>
    private readonly Lock _gate = new();

    /// <summary>The ordering promise.</summary>
    private readonly OrderingMode _mode;

    /// <summary>A deliberate breakage for checker tests; null in production.</summary>
    private readonly ISequencerMutant? _mutant;

    /// <summary>Device size in sectors: requests past it fail.</summary>
    private ulong _capacitySectors;

    /// <summary>The logical block size in sectors: requests not on whole blocks are malformed.</summary>
    private readonly uint _blockSectors;

    /// <summary>Writes fail with EROFS.</summary>
    private readonly bool _readOnly;

    /// <summary>Gets released requests to the backend.</summary>
    private readonly IRequestDispatcher _dispatcher;

    /// <summary>Optional recorder of receipts and acknowledgements.</summary>
    private readonly ISequencerObserver? _observer;

    /// <summary>The last sequence number given out.</summary>
    private long _lastSeq;

    /// <summary>Requests submitted and not yet acknowledged.</summary>
    private int _outstanding;

    /// <summary>Every write-class request received and not yet landed (held and blocked ones included), in sequence order.</summary>
    private RequestList<MainLinks> _unlanded;

    /// <summary>Reads and writes that may not start yet (overlap blockers, or a strict hold), in sequence order.</summary>
    private RequestList<WaitLinks> _waiting;

    /// <summary>Drain/strict: flushes received whose sync has not started, in sequence order.</summary>
    private RequestList<MainLinks> _pendingFlushes;

    /// <summary>
    /// Drain/strict: the flushes of every sync group not yet acknowledged, in sequence order (each
    /// group is the prefix of the pending list that was ready when its sync started, so groups
    /// follow one another). A group's first flush carries its sync: it is
    /// <see cref="RequestState.Running"/> while the sync runs, <see cref="RequestState.Synced"/>
    /// after; the others are <see cref="RequestState.Syncing"/>.
    /// </summary>
    private RequestList<MainLinks> _syncingFlushes;

    /// <summary>0, or the negative errno that every later flush reports (set by a failed write or sync).</summary>
    private int _latchedError;

    /// <summary>Flushes acknowledged and syncs ended (see <see cref="Ordering.FlushStatistics"/>).</summary>
    private long _flushes, _syncs;

    /// <summary>Stopwatch ticks summed over flushes: waiting for earlier writes, ready but waiting on other syncs, in their own sync; and summed over syncs.</summary>
    private long _waitWritesTicks, _waitSyncsTicks, _inSyncTicks, _syncTicks;

    /// <summary>Syncs running now, and the most that ever ran at once.</summary>
    private int _syncsInFlight, _peakSyncsInFlight;

    /// <summary>Creates the Sequencer of one device.</summary>
    /// <param name="mode">The ordering promise.</param>
    /// <param name="capacityBytes">Device size in bytes; requests beyond it fail with EINVAL.</param>
    /// <param name="dispatcherFactory">Builds the dispatcher, given where backend completions go (this Sequencer).</param>
    /// <param name="readOnly">Fail writes with EROFS.</param>
    /// <param name="observer">Optional recorder.</param>
    /// <param name="mutant">A deliberate breakage, for checker tests only (see <see cref="ISequencerMutant"/>); null, the engine as designed, everywhere else.</param>
    /// <param name="logicalBlockSize">The device's logical block size in bytes (512, the default, or a larger power of two up to 4096): requests not on whole blocks fail with EINVAL.</param>
    public Sequencer(
        OrderingMode mode,
        long capacityBytes,
        Func<IBackendCompletion, IRequestDispatcher> dispatcherFactory,
        bool readOnly = false,
        ISequencerObserver? observer = null,
        ISequencerMutant? mutant = null,
        int logicalBlockSize = BlockRequest.SectorSize)
    {
        ArgumentNullException.ThrowIfNull(dispatcherFactory);
        ArgumentOutOfRangeException.ThrowIfNegative(capacityBytes);
        if (!Enum.IsDefined(mode))
        {
            throw new ArgumentOutOfRangeException(nameof(mode), mode, "unknown ordering mode");
        }

        if (logicalBlockSize < BlockRequest.SectorSize || logicalBlockSize > MaxLogicalBlockSize || (logicalBlockSize & (logicalBlockSize - 1)) != 0)
        {
            throw new ArgumentOutOfRangeException(nameof(logicalBlockSize), logicalBlockSize, "The logical block size must be a power of two from 512 to 4096.");
        }

        _mode = mode;
        _mutant = mutant;
        _blockSectors = (uint)logicalBlockSize >> BlockRequest.SectorShift;
        _capacitySectors = (ulong)capacityBytes >> BlockRequest.SectorShift;
        _readOnly = readOnly;
        _observer = observer;
        _dispatcher = dispatcherFactory(this);
    }

    /// <summary>The ordering promise this device keeps.</summary>
    public OrderingMode Mode => _mode;

    /// <summary>The device size in bytes requests are checked against.</summary>
    public long CapacityBytes => (long)(Volatile.Read(ref _capacitySectors) << BlockRequest.SectorShift);

    /// <summary>
    /// A resized device (loop-order resize): requests are checked against the new size from now
    /// on. Growing: call it once the backend holds the new size and before the kernel announces
    /// it; shrinking: after the kernel stopped sending requests past the new end.
    /// </summary>
    /// <param name="capacityBytes">The new size in bytes.</param>
    public void SetCapacity(long capacityBytes)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(capacityBytes);
        Volatile.Write(ref _capacitySectors, (ulong)capacityBytes >> BlockRequest.SectorShift);
    }

    /// <summary>Requests submitted and not yet acknowledged.</summary>
    public int Outstanding => Volatile.Read(ref _outstanding);

    /// <summary>True once a write or sync failed: every later flush fails until the device restarts.</summary>
    public bool IsErrorLatched => Volatile.Read(ref _latchedError) != 0;

    /// <summary>Where the flushes acknowledged so far spent their time (sums since the device started).</summary>
    public FlushStatistics FlushStatistics
    {
        get
        {
            lock (_gate)
            {
                return new FlushStatistics(
                    _flushes,
                    _syncs,
                    Stopwatch.GetElapsedTime(0, _waitWritesTicks),
                    Stopwatch.GetElapsedTime(0, _waitSyncsTicks),
                    Stopwatch.GetElapsedTime(0, _inSyncTicks),
                    Stopwatch.GetElapsedTime(0, _syncTicks),
                    _peakSyncsInFlight);
            }
        }
    }

    /// <summary>
    /// Receives a request. Invalid ones (out of range, zero length, unknown op, a write on a
    /// read-only device, a buffer too small) are acknowledged at once with an error and never
    /// reach the backend. Any thread; the request belongs to the engine until it is completed.
    /// </summary>
    public void Submit(BlockRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        int invalid = Validate(request);
        var ready = default(RequestChain);
        var done = default(RequestChain);
        long ticks = Stopwatch.GetTimestamp();
        lock (_gate)
        {
            Receive(request, ticks);
            if (invalid != 0)
            {
                Finish(request, invalid, ref done);
            }
            else if (request.Op == BlockOp.Flush)
            {
                ReceiveFlush(request, ref ready, ref done);
            }
            else
            {
                ReceiveData(request, ref ready);
            }

            AssertInvariants();
        }

        Deliver(ref ready, ref done);
    }

    /// <inheritdoc />
    public void Landed(BlockRequest request, int result)
    {
        ArgumentNullException.ThrowIfNull(request);
        result = BackendResult.Normalize(request, result);
        var ready = default(RequestChain);
        var done = default(RequestChain);
        lock (_gate)
        {
            Debug.Assert(request.State is RequestState.Running, $"{request} landed while {request.State}");
            if (request.Op == BlockOp.Flush)
            {
                SyncEnded(request, result, ref ready, ref done);
            }
            else
            {
                if (request.IsWriteClass)
                {
                    WriteLanded(request, result, ref ready, ref done);
                }

                if (request.AckedEarly)
                {
                    request.State = RequestState.Done;
                    _outstanding--;
                }
                else
                {
                    Finish(request, result, ref done);
                }
            }

            AssertInvariants();
        }

        Deliver(ref ready, ref done);
    }

    /// <inheritdoc />
    public void Dispose() => _dispatcher.Dispose();

    /// <summary>Gives <paramref name="request"/> its place in the receive order; under the lock.</summary>
    private void Receive(BlockRequest request, long ticks)
    {
        Debug.Assert(request.State is RequestState.Idle, $"{request} submitted twice");
        request.Seq = ++_lastSeq;
        request.ReceivedTicks = ticks;
        _outstanding++;
        _observer?.Received(request, request.Seq);
    }

    private int Validate(BlockRequest r)
    {
        int invalid = r.CheckBounds(Volatile.Read(ref _capacitySectors), _blockSectors);
        return invalid == 0 && r.IsWriteClass && _readOnly ? Errno.EROFS.ToResult() : invalid;
    }

    private void ReceiveData(BlockRequest r, ref RequestChain ready)
    {
        int blockers = 0;
        if (_mutant is null || !_mutant.ShouldSkipOverlapWait(r))
        {
            for (BlockRequest? w = _unlanded.Head; w is not null; w = w.Next)
            {
                if (w.Overlaps(r))
                {
                    blockers++;
                }
            }
        }

        r.Blockers = blockers;
        if (r.IsWriteClass)
        {
            _unlanded.AddLast(r);
            r.Held = (_mode == OrderingMode.Strict && (_mutant is null || !_mutant.ShouldSkipStrictHold(r)) &&
                      !(_pendingFlushes.IsEmpty && _syncingFlushes.IsEmpty)) ||
                     (_barrier is not null && (_mutant is null || !_mutant.ShouldSkipSnapshotHold(r)));
        }

        if (blockers > 0 || r.Held)
        {
            r.State = RequestState.Waiting;
            _waiting.AddLast(r);
        }
        else
        {
            Start(r, ref ready);
        }
    }

    private void ReceiveFlush(BlockRequest f, ref RequestChain ready, ref RequestChain done)
    {
        if (_mode == OrderingMode.None && !f.Barrier)
        {
            // The loop driver's behaviour: sync at once, concurrently with anything in flight.
            if (_latchedError != 0)
            {
                Finish(f, Errno.EIO.ToResult(), ref done);
            }
            else
            {
                f.ReadyTicks = f.SyncStartTicks = f.ReceivedTicks;
                SyncStarted();
                Start(f, ref ready);
            }

            return;
        }

        f.State = RequestState.Waiting;
        _pendingFlushes.AddLast(f);
        TryStartSync(ref ready, ref done);
    }

    /// <summary>
    /// Drain/strict: the pending flushes whose earlier writes have all landed (a prefix of the
    /// pending list, which is in sequence order) become one sync group and its sync starts now,
    /// even while earlier groups' syncs still run. Each sync covers what had landed before it
    /// started, which is all D1 and C1 ask of it; waiting for the sync in flight to end first only
    /// added its remaining time to every flush behind it (at 2 queues, where both queues keep a
    /// flush pending, that was most of a flush's latency). Groups are acknowledged in the order
    /// their syncs started (<see cref="AcknowledgeEndedSyncs"/>), so a failure reported to a later
    /// sync still fails the earlier ones (see <see cref="SyncEnded"/>).
    /// </summary>
    private void TryStartSync(ref RequestChain ready, ref RequestChain done)
    {
        long now = 0;
        StampReady(ref now);
        BlockRequest? carrier = null;
        for (BlockRequest? f = _pendingFlushes.Head; f is not null && (f.ReadyTicks != 0 || (_mutant is not null && _mutant.ShouldSkipFlushWait(f))); f = _pendingFlushes.Head)
        {
            _pendingFlushes.Remove(f);
            _syncingFlushes.AddLast(f);
            f.State = RequestState.Syncing;
            now = now != 0 ? now : Stopwatch.GetTimestamp();
            f.ReadyTicks = f.ReadyTicks != 0 ? f.ReadyTicks : now;
            f.SyncStartTicks = now;
            _waitWritesTicks += f.ReadyTicks - f.ReceivedTicks;
            _waitSyncsTicks += now - f.ReadyTicks;
            carrier ??= f;
        }

        if (carrier is null)
        {
            return;
        }

        carrier.SyncResult = 0;
        if (_latchedError == 0)
        {
            SyncStarted();
            Start(carrier, ref ready);
            return;
        }

        // A latched error fails the group without asking the backend: a retried fdatasync can
        // "succeed" over data whose writeback already failed. It is acknowledged in its turn.
        carrier.State = RequestState.Synced;
        carrier.SyncResult = Errno.EIO.ToResult();
        carrier.SyncEndTicks = now;
        AcknowledgeEndedSyncs(now, ref ready, ref done);
    }

    /// <summary>
    /// Notes, for the statistics, when each pending flush's earlier writes have all landed: the
    /// ready flushes are a prefix of the pending list, since it is in sequence order.
    /// <paramref name="now"/> is read from the clock once, only if a flush needs it.
    /// </summary>
    private void StampReady(ref long now)
    {
        long oldestUnlanded = _unlanded.Head?.Seq ?? long.MaxValue;
        for (BlockRequest? f = _pendingFlushes.Head; f is not null && f.Seq < oldestUnlanded; f = f.Next)
        {
            if (f.ReadyTicks == 0)
            {
                now = now != 0 ? now : Stopwatch.GetTimestamp();
                f.ReadyTicks = now;
            }
        }
    }

    private void SyncStarted()
    {
        _syncsInFlight++;
        _peakSyncsInFlight = Math.Max(_peakSyncsInFlight, _syncsInFlight);
    }

    private void SyncEnded(BlockRequest carrier, int result, ref RequestChain ready, ref RequestChain done)
    {
        long now = Stopwatch.GetTimestamp();
        _syncs++;
        _syncsInFlight--;
        _syncTicks += now - carrier.SyncStartTicks;
        if (result < 0 && _mutant is not null && _mutant.ShouldIgnoreSyncError(carrier, result))
        {
            result = 0;
        }
        else if (result < 0)
        {
            _latchedError = Errno.EIO.ToResult();
            result = Errno.EIO.ToResult();
        }

        if (_mode == OrderingMode.None && !carrier.Barrier)
        {
            _flushes++;
            _inSyncTicks += now - carrier.SyncStartTicks;
            Finish(carrier, result, ref done);
            return;
        }

        Debug.Assert(carrier.State == RequestState.Running, "only a group's carrier runs a sync");
        carrier.State = RequestState.Synced;
        carrier.SyncEndTicks = now;
        if (result < 0)
        {
            // Linux reports a writeback error to one fdatasync of the file only, and the data it
            // concerns may be another group's: every group not yet acknowledged fails, whatever
            // its own sync returns.
            for (BlockRequest? f = _syncingFlushes.Head; f is not null; f = f.Next)
            {
                f.SyncResult = Errno.EIO.ToResult();
            }
        }

        AcknowledgeEndedSyncs(now, ref ready, ref done);
        TryStartSync(ref ready, ref done);
    }

    /// <summary>
    /// Acknowledges, oldest first, every sync group whose sync has ended and that no group started
    /// before it still waits on; in strict mode then releases the writes those flushes held.
    /// </summary>
    private void AcknowledgeEndedSyncs(long now, ref RequestChain ready, ref RequestChain done)
    {
        bool acknowledged = false;
        while (_syncingFlushes.Head is { State: RequestState.Synced } carrier)
        {
            int result = carrier.SyncResult;
            long inSync = carrier.SyncEndTicks - carrier.SyncStartTicks;
            long behind = now - carrier.SyncEndTicks;
            BlockRequest? f = carrier;
            do
            {
                _syncingFlushes.Remove(f);
                _flushes++;
                _inSyncTicks += inSync;
                _waitSyncsTicks += behind;
                Finish(f, result, ref done);
                f = _syncingFlushes.Head;
            }
            while (f is { State: RequestState.Syncing });

            acknowledged = true;
        }

        if (!acknowledged || _mode != OrderingMode.Strict)
        {
            return;
        }

        ReleaseHeld(ref ready);
    }

    /// <summary>
    /// Starts the held writes that no hold covers any more: those received before the oldest
    /// flush still unacknowledged (strict) and before a snapshot barrier still in place. Both
    /// holds cover a suffix of the receive order, so the writes to release are a prefix of the
    /// waiting list.
    /// </summary>
    private void ReleaseHeld(ref RequestChain ready)
    {
        long barrier = _mode == OrderingMode.Strict ? _syncingFlushes.Head?.Seq ?? _pendingFlushes.Head?.Seq ?? long.MaxValue : long.MaxValue;
        barrier = Math.Min(barrier, _barrier?.Seq ?? long.MaxValue);
        for (BlockRequest? w = _waiting.Head; w is not null && w.Seq < barrier;)
        {
            BlockRequest? next = w.WaitNext;
            if (w.Held)
            {
                w.Held = false;
                if (w.Blockers == 0)
                {
                    _waiting.Remove(w);
                    Start(w, ref ready);
                }
            }

            w = next;
        }
    }

    private void WriteLanded(BlockRequest w, int result, ref RequestChain ready, ref RequestChain done)
    {
        _unlanded.Remove(w);
        if (result < 0)
        {
            // C5: the filesystem above may have been told an earlier flush covered this write's
            // neighbours; from now on no flush may claim durability.
            _latchedError = Errno.EIO.ToResult();
        }

        // Wake the later requests this write blocked.
        for (BlockRequest? r = _waiting.Head; r is not null;)
        {
            BlockRequest? next = r.WaitNext;
            if (r.Seq > w.Seq && r.Blockers > 0 && r.Overlaps(w) &&
                (_mutant is null || !_mutant.ShouldSkipOverlapWait(r)) && --r.Blockers == 0 && !r.Held)
            {
                _waiting.Remove(r);
                Start(r, ref ready);
            }

            r = next;
        }

        if (_mode != OrderingMode.None || !_pendingFlushes.IsEmpty)
        {
            // In mode none only a snapshot barrier waits on the pending list.
            TryStartSync(ref ready, ref done);
        }
    }

    private void Start(BlockRequest r, ref RequestChain ready)
    {
        r.State = RequestState.Running;
        if (_mutant is not null && _mutant.ShouldAcknowledgeBeforeLanding(r))
        {
            r.AckedEarly = true;
            _observer?.Acknowledged(r, r.Seq, r.Op == BlockOp.Write ? r.ByteCount : 0);
        }

        ready.Add(r);
    }

    private void Finish(BlockRequest r, int result, ref RequestChain done)
    {
        r.State = RequestState.Done;
        _outstanding--;
        _observer?.Acknowledged(r, r.Seq, result);
        done.Add(r, result);
    }

    /// <summary>
    /// Outside the lock: delivers acknowledgements, then hands released requests to the dispatcher.
    /// Acknowledgements are recorded under the lock (in <see cref="Finish"/>), so a recorder sees a
    /// flush acknowledged before any write it released, or any write received after it, starts.
    /// </summary>
    private void Deliver(ref RequestChain ready, ref RequestChain done)
    {
        while (done.Take() is { } d)
        {
            d.Completion.Complete(d, d.ChainResult);
        }

        while (ready.Take() is { } r)
        {
            if (r.AckedEarly)
            {
                r.Completion.Complete(r, r.Op == BlockOp.Write ? r.ByteCount : 0);
            }

            _dispatcher.Dispatch(r);
        }
    }

    [Conditional("DEBUG")]
    private void AssertInvariants()
    {
        Debug.Assert(_outstanding >= 0, "more acknowledgements than submissions");
        Debug.Assert(_mode != OrderingMode.None || ((_pendingFlushes.Head?.Barrier ?? true) && (_syncingFlushes.Head?.Barrier ?? true)), "mode none keeps no flush lists but a snapshot barrier's");
        Debug.Assert(_syncingFlushes.IsEmpty || _syncingFlushes.Head!.State is RequestState.Running or RequestState.Synced, "the oldest sync group's carrier heads the list");
    }
}
