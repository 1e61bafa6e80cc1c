using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using LoopOrder.Interop;
using LoopOrder.Interop.Uring;
using LoopOrder.Queues.Backends;
using LoopOrder.Queues.Requests;
using LoopOrder.Ublk.Protocol;
using LoopOrder.Ublk.Structs;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace LoopOrder.Ublk.Queue;

/// <summary>
/// One ublk hardware queue: a dedicated OS thread with its own io_uring, the queue's descriptor
/// array mapped read-only from /dev/ublkcN, and per tag a preallocated <see cref="BlockRequest"/>
/// and a page-aligned data buffer.
/// </summary>
/// <remarks>
/// <para>
/// <b>Cycle of a tag.</b> FETCH_REQ arms it. Its CQE (res 0) means the kernel put a request in
/// the tag's descriptor (and, for a write, its data in the tag's buffer); the thread reads the
/// descriptor, prepares the tag's request and hands it to the engine. A worker finishes it and
/// calls <see cref="Complete"/>, which pushes the tag and its result on a lock-free stack; the
/// queue thread pops it and sends COMMIT_AND_FETCH_REQ with the result, which completes the block
/// request (copying read data out of the buffer) and arms the tag again. A CQE of -ENODEV means
/// the device is stopping and the tag is done for good.
/// </para>
/// <para>
/// <b>One thread per ring</b>: once a thread fetched for a queue, the kernel accepts commands for
/// that queue from that thread only, and it runs the per-request task work (the write data copy)
/// in that thread's context when it enters the ring. Nothing but this thread touches the ring.
/// </para>
/// <para>
/// <b>Waking</b>: the thread sleeps in io_uring_enter, woken by a <see cref="RingWaker"/>: a
/// worker that completes a request writes its eventfd only when the thread is (about to be)
/// asleep, and only the first such worker does, so a busy queue costs its workers no system call.
/// </para>
/// <para>
/// <b>No allocation per I/O</b>: requests, buffers, result slots and the stack's links are all
/// preallocated per tag; CQEs are peeked in place.
/// </para>
/// </remarks>
internal sealed unsafe partial class UblkQueue : IRequestCompletion, IRegisteredData, IDisposable
{
    /// <summary>How long the thread may take to arm every tag (it only submits; the kernel answers at once).</summary>
    private static readonly TimeSpan FetchTimeout = TimeSpan.FromSeconds(30);

    private readonly UblkQueueOptions _options;
    private readonly ILogger _logger;
    private readonly Action<BlockRequest> _submit;

    /// <summary>Set once <see cref="Attach"/> mapped the descriptors (or <see cref="Abort"/> was called): the thread may go on to fetch.</summary>
    private readonly ManualResetEventSlim _attached = new(false);

    // Written by Attach before _attached is set, read by the thread after it waited for it.
    private int _charDeviceFd = -1;
    private SafeMmapHandle? _descriptorMap;
    private ublksrv_io_desc* _descriptors;
    /// <summary>The tag buffers, one anonymous mapping: lazily zero-filled, so 128 × 512 KiB costs only what is touched.</summary>
    private readonly SafeMmapHandle _buffers;
    private readonly BlockRequest[] _requests;

    /// <summary>Per tag: the result <see cref="Complete"/> stored, read by the queue thread after popping the tag.</summary>
    private readonly int[] _results;

    /// <summary>Per tag: the next tag down the completion stack, or -1.</summary>
    private readonly int[] _completedNext;

    /// <summary>Wakes the thread from its ring; its read is armed there while the thread serves.</summary>
    private readonly RingWaker _waker;
    private readonly Thread _thread;
    private readonly ManualResetEventSlim _armed = new(false);
    private readonly ManualResetEventSlim _exited = new(false);

    /// <summary>Top of the lock-free stack of completed tags (Treiber stack, popped all at once); -1 when empty.</summary>
    private int _completedHead = -1;

    /// <summary>Requests handed to the engine and not yet completed (any thread reads it; see <see cref="IsDrained"/>).</summary>
    private int _outstanding;

    /// <summary>1 once <see cref="Abort"/> was called: leave without waiting for the kernel's -ENODEV.</summary>
    private int _abortRequested;

    private long _requestCount;

    /// <summary>This thread's managed allocations (GC.GetAllocatedBytesForCurrentThread) when it last went to sleep.</summary>
    private long _allocatedBytes;

    // Statistics: plain fields written only by the queue thread, read racily by Statistics.
    private long _reads;
    private long _writes;
    private long _flushes;
    private long _discards;
    private long _errors;
    private long _bytesRead;
    private long _bytesWritten;

    /// <summary>Per tag: when a FLUSH in it was received (Stopwatch ticks); queue thread only.</summary>
    private readonly long[] _flushStart;
    private readonly LatencyHistogram _flushLatency = new();
    private Exception? _fault;

    /// <summary>The setup flags the thread's ring was made with (None until it is made); for tests and diagnostics.</summary>
    private int _ringFlags;

    /// <summary>Set once a queue logged why its ring does without DEFER_TASKRUN: once a process.</summary>
    private static int s_taskrunNoted;

    private bool _disposed;

    /// <summary>
    /// Allocates the queue's buffers and requests; the thread starts with <see cref="Start"/> and
    /// fetches once <see cref="Attach"/> mapped the descriptors of /dev/ublkcN.
    /// </summary>
    /// <param name="options">Where the queue is and how big.</param>
    /// <param name="submit">Hands a prepared request to the engine (any thread; must not block for long).</param>
    /// <param name="logger">Where problems are reported.</param>
    public UblkQueue(UblkQueueOptions options, Action<BlockRequest> submit, ILogger? logger = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(submit);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(options.Depth);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(options.Depth, UblkLimits.MaxQueueDepth);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(options.BufferBytes);
        _options = options;
        _logger = logger ?? NullLogger.Instance;
        _submit = submit;
        int depth = options.Depth;
        try
        {
            // BufferBytes is a whole number of pages (the kernel rounds max_io_buf_bytes down to
            // one), so every tag's buffer starts page-aligned, as O_DIRECT wants.
            _buffers = SafeMmapHandle.MapAnonymous((nuint)depth * (nuint)options.BufferBytes, $"ublk queue {options.QueueId} tag buffers");
            _requests = new BlockRequest[depth];
            for (int tag = 0; tag < depth; tag++)
            {
                _requests[tag] = new BlockRequest(options.QueueId, tag, this) { Node = options.Node };
            }

            _results = new int[depth];
            _flushStart = new long[depth];
            _completedNext = new int[depth];
            _transferNext = new int[depth];
            _transferFiles = new IRegisteredFile?[depth];
            _transferCompletions = new IBackendCompletion?[depth];
            // Its read's user_data is far above the tags (0..4095).
            _waker = new RingWaker();
        }
        catch
        {
            _buffers?.Dispose();
            throw;
        }

        _thread = new Thread(Run)
        {
            Name = $"ublk{options.DeviceId}-q{options.QueueId}",
            IsBackground = true,
        };
    }

    /// <summary>The queue number.</summary>
    public int QueueId => _options.QueueId;

    /// <summary>Why the thread stopped early, or null.</summary>
    public Exception? Fault => Volatile.Read(ref _fault);

    /// <summary>Requests received from the kernel so far (diagnostics; read racily).</summary>
    public long RequestCount => Volatile.Read(ref _requestCount);

    /// <summary>This queue's counters now (racy: see <see cref="UblkQueueStatistics"/>). Any thread.</summary>
    public UblkQueueStatistics Statistics => new(
        QueueId,
        Volatile.Read(ref _reads),
        Volatile.Read(ref _writes),
        Volatile.Read(ref _flushes),
        Volatile.Read(ref _discards),
        Volatile.Read(ref _errors),
        Volatile.Read(ref _bytesRead),
        Volatile.Read(ref _bytesWritten),
        Volatile.Read(ref _outstanding),
        _flushLatency.Snapshot());

    /// <summary>The setup flags of this queue's ring once its thread made it.</summary>
    internal IoUringSetupFlags RingFlags => (IoUringSetupFlags)Volatile.Read(ref _ringFlags);

    /// <summary>The queue thread's managed allocations up to its last sleep (diagnostics and the no-allocation test).</summary>
    internal long AllocatedBytes => Volatile.Read(ref _allocatedBytes);

    /// <summary>True when no request of this queue is in the engine: its buffers are free.</summary>
    public bool IsDrained => Volatile.Read(ref _outstanding) == 0;

    /// <summary>True while the thread runs.</summary>
    public bool IsRunning => _thread.IsAlive;

    /// <summary>Set once the thread has left (normally after every tag got -ENODEV).</summary>
    public WaitHandle ExitedHandle => _exited.WaitHandle;

    /// <summary>Called on the queue thread as it exits, normally or not (<see cref="Fault"/> tells which).</summary>
    public Action<UblkQueue>? Exited { get; init; }

    /// <summary>The buffer of <paramref name="tag"/>.</summary>
    internal nint BufferOf(int tag) => (nint)(_buffers.Pointer + ((nint)tag * _options.BufferBytes));

    /// <summary>
    /// Starts the thread, which pins itself and sets up its ring, then waits for
    /// <see cref="Attach"/> and sends FETCH_REQ for every tag.
    /// </summary>
    public void Start() => _thread.Start();

    /// <summary>
    /// Maps the queue's descriptors from /dev/ublkcN and lets the thread fetch every tag. Apart
    /// from the thread's own submit, this is all that happens between a recovery's
    /// START_USER_RECOVERY and its queues being armed: see <see cref="Device.UblkDevice.Recover"/>.
    /// </summary>
    /// <param name="charDevice">The open /dev/ublkcN; must stay open until this queue is disposed.</param>
    public void Attach(SafeFileDescriptor charDevice)
    {
        ArgumentNullException.ThrowIfNull(charDevice);
        if (_descriptorMap is not null)
        {
            throw new InvalidOperationException($"ublk queue {QueueId} is attached already.");
        }

        int pageSize = Environment.SystemPageSize;
        _descriptorMap = SafeMmapHandle.MapShared(
            charDevice,
            UblkLimits.DescriptorAreaOffset(_options.QueueId, pageSize),
            (nuint)UblkLimits.DescriptorAreaLength(_options.Depth, pageSize),
            writable: false,
            populate: false,
            $"ublk queue {_options.QueueId} descriptors");
        _descriptors = (ublksrv_io_desc*)_descriptorMap.Pointer;
        _charDeviceFd = charDevice.RawFd;
        _attached.Set();
    }

    /// <summary>
    /// Waits until the thread has submitted FETCH_REQ for every tag, so START_DEV (or
    /// END_USER_RECOVERY) can be sent. Throws the thread's fault if it failed instead.
    /// </summary>
    /// <exception cref="TimeoutException">The thread did not get there in time.</exception>
    public void WaitArmed()
    {
        if (!_armed.Wait(FetchTimeout))
        {
            throw new TimeoutException($"ublk queue {QueueId} did not arm its tags within {FetchTimeout.TotalSeconds:0} s.");
        }

        if (Fault is { } fault)
        {
            throw new IOException($"ublk queue {QueueId} failed to start: {fault.Message}", fault);
        }
    }

    /// <summary>Waits for the thread to exit.</summary>
    /// <param name="timeout">How long.</param>
    /// <returns>True when it exited.</returns>
    public bool Join(TimeSpan timeout) => !_thread.IsAlive || _thread.Join(timeout);

    /// <summary>
    /// Makes the thread leave without waiting for the kernel to abort its tags; closing its ring
    /// then cancels them. For teardown after a failure: a normal stop is STOP_DEV.
    /// </summary>
    public void Abort()
    {
        Volatile.Write(ref _abortRequested, 1);
        try
        {
            // A thread still waiting for Attach leaves without fetching.
            _attached.Set();
            _waker.ForceWake();
        }
        catch (ObjectDisposedException)
        {
            // Already gone.
        }
    }

    /// <summary>
    /// The engine finished a request of this queue: stores the result and hands the tag back to
    /// the queue thread, waking it only if it sleeps. Any thread; allocates nothing.
    /// </summary>
    /// <param name="request">One of this queue's requests.</param>
    /// <param name="result">Bytes, 0, or -errno.</param>
    public void Complete(BlockRequest request, int result)
    {
        Debug.Assert(request.QueueId == _options.QueueId, "completion routed to the wrong queue");
        int tag = request.Tag;
        _results[tag] = result;
        PushAndWake(ref _completedHead, _completedNext, tag);

        Interlocked.Decrement(ref _outstanding);
    }

    /// <summary>
    /// Pushes <paramref name="tag"/> on a lock-free stack of tags for the queue thread (Treiber
    /// stack: <paramref name="head"/> its top, <paramref name="next"/> the links, popped whole
    /// with one exchange), then wakes the thread if it sleeps: it looks at every such stack again
    /// after announcing its sleep, so a push before the announcement is seen and one after it
    /// finds the thread asleep. Any thread; allocates nothing.
    /// </summary>
    private void PushAndWake(ref int head, int[] next, int tag)
    {
        int top;
        do
        {
            top = Volatile.Read(ref head);
            next[tag] = top;
        }
        while (Interlocked.CompareExchange(ref head, tag, top) != top);

        _waker.WakeIfSleeping();
    }

    /// <summary>
    /// Unmaps the descriptors (a mapping of /dev/ublkcN keeps the char device open, and DEL_DEV
    /// waits for it to close) and frees the buffers. Call after the thread exited; buffers the
    /// engine may still write into (requests not completed) are leaked rather than freed.
    /// </summary>
    public void Dispose()
    {
        if (_disposed)
        {
            return;
        }

        if (_thread.IsAlive)
        {
            // The thread still reads the descriptors and the kernel may still fill the buffers.
            LogLeakingBuffers(_logger, QueueId);
            return;
        }

        _disposed = true;
        _descriptorMap?.Dispose();
        _armed.Dispose();
        _attached.Dispose();
        if (!IsDrained)
        {
            LogLeakingBuffers(_logger, QueueId);
            return;
        }

        _waker.Dispose();
        _buffers.Dispose();
    }

    /// <summary>
    /// Fills <paramref name="request"/> from the descriptor the kernel wrote for its tag. The op
    /// is carried as is (the engine fails ops it does not know); of the flags only FUA and
    /// NOUNMAP matter to the engine, tested on op_flags itself, unshifted. Only a READ or a WRITE
    /// gets <paramref name="data"/>: nothing else moves data, so nothing else may reach the tag's
    /// buffer or pages.
    /// </summary>
    /// <param name="request">The tag's request slot.</param>
    /// <param name="descriptor">What the kernel wrote for the tag.</param>
    /// <param name="data">The tag's buffer, or with zero copy its registered pages.</param>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static void PrepareFromDescriptor(BlockRequest request, in ublksrv_io_desc descriptor, RequestBuffer data)
    {
        var op = (BlockOp)descriptor.Op;
        request.Prepare(
            op,
            (RequestFlags)(descriptor.op_flags & (UblkIoFlags.Fua | UblkIoFlags.NoUnmap)),
            descriptor.start_sector,
            descriptor.nr_sectors,
            op is BlockOp.Read or BlockOp.Write ? data : RequestBuffer.None);
    }

    private void Run()
    {
        IoUring? ring = null;
        IDisposable? threadState = null;
        try
        {
            Pin();
            MarkIoFlusher();

            // After pinning, so what the engine makes for this thread is made on its CPUs.
            threadState = _options.ThreadInit?.Invoke();

            // SQ: every tag's command plus the eventfd read at once, and every tag's file
            // transfer too (zero copy, or an O_DIRECT file's reads and writes from the tag
            // buffers); the CQ (twice that) then holds every completion that can be outstanding,
            // so it never overflows.
            uint entries = ((uint)_options.Depth * 2) + 1;
            ring = CreateRing(entries);
            Volatile.Write(ref _ringFlags, (int)ring.Flags);
            if (_options.ZeroCopy)
            {
                // The slots the driver puts each request's pages in: slot = tag.
                ring.RegisterSparseBuffers((uint)_options.Depth);
            }

            if (_options.BatchIo)
            {
                SetUpBatch(ring);
            }

            _ring = ring;
            _threadId = Environment.CurrentManagedThreadId;
            _attached.Wait();
            if (Volatile.Read(ref _abortRequested) == 0)
            {
                Serve(ring);
            }
        }
        catch (Exception e)
        {
            Volatile.Write(ref _fault, e);
            LogQueueFailed(_logger, e, QueueId);
        }
        finally
        {
            // Closing the ring cancels whatever is still armed there (the kernel answers the
            // tags' fetches with -ENODEV on its own if the device still runs).
            ring?.Dispose();
            DisposeBatch();

            // Nothing of it runs any more: what it ran, it ran on this thread, now done.
            threadState?.Dispose();
            _armed.Set();
            _exited.Set();
            Exited?.Invoke(this);
        }
    }

    /// <summary>
    /// The queue's ring. Only this thread ever enters it (SINGLE_ISSUER), so the driver's
    /// per-request task work (the hand-over of each new request and the copy of its write data)
    /// can wait until this thread asks for completions (DEFER_TASKRUN, 6.1+) and then run as one
    /// batch, instead of being flagged to run at the return of whatever system call the thread is
    /// in, such as a lane's pwrite (COOP_TASKRUN, the fallback for 5.19 and 6.0). DEFER_TASKRUN
    /// only where a killed server's ring teardown is safe with it: see <see cref="QueueRingSetup"/>.
    /// </summary>
    private IoUring CreateRing(uint entries)
    {
        QueueTaskrun mode = QueueRingSetup.ForThisKernel();
        if (mode != QueueTaskrun.Defer && Interlocked.Exchange(ref s_taskrunNoted, 1) == 0)
        {
            LogTaskrunChosen(_logger, mode, Environment.OSVersion.Version, QueueRingSetup.DeferSafeFrom);
        }

        return IoUring.CreateWithFallback(
            entries,
            IoUringSetupFlags.None,
            QueueRingSetup.Flags(mode),
            mode == QueueTaskrun.Defer ? QueueRingSetup.Flags(QueueTaskrun.Coop) : IoUringSetupFlags.None);
    }

    private void Pin()
    {
        if (!_options.Pin || _options.Cpus.Length == 0)
        {
            return;
        }

        try
        {
            CpuAffinity.SetCurrentThread(_options.Cpus);
        }
        catch (ErrnoException e)
        {
            // A cpuset may forbid the CPUs the block layer mapped to this queue; the queue still
            // works unpinned, only slower.
            LogPinFailed(_logger, QueueId, e.Message);
        }
    }

    /// <summary>
    /// This thread serves a block device and writes its backing file: see <see cref="IoFlusher"/>
    /// for what the kernel then does differently. Without it the queue still works; under memory
    /// pressure reclaim could then wait on this very device.
    /// </summary>
    private void MarkIoFlusher()
    {
        Errno errno = IoFlusher.TrySetCurrentThread();
        if (errno != Errno.None)
        {
            LogIoFlusherFailed(_logger, QueueId, errno.Describe());
        }
    }

    private void Serve(IoUring ring)
    {
        int depth = _options.Depth;
        ushort queueId = (ushort)_options.QueueId;

        _waker.Arm(ring);
        if (_options.BatchIo)
        {
            ArmBatch(ring);
        }
        else
        {
            for (int tag = 0; tag < depth; tag++)
            {
                io_uring_sqe* sqe = NextSqe(ring);
                PrepareTagCommand(sqe, UblkCommand.FetchReq, queueId, tag, 0);
            }
        }

        ring.SubmitAndWait(0);

        // A FETCH_REQ the driver accepts stays in flight until a request arrives; one it refuses
        // completes during the submit. START_DEV waits for every tag forever, so a refusal must
        // fail the queue now rather than hang the device.
        while (ring.TryPeekCqe(out io_uring_cqe early))
        {
            if (_options.BatchIo && TryBatchCompleted(ring, early))
            {
                ring.AdvanceCq(1);
                continue;
            }

            if (!_waker.TryComplete(early.user_data))
            {
                throw ErrnoException.FromErrno(ErrnoExtensions.ErrnoOf(early.res), "ublk FETCH_REQ", $"/dev/ublkc{_options.DeviceId}", $"queue {QueueId} tag {early.user_data}");
            }

            ring.AdvanceCq(1);
        }

        _armed.Set();

        int armedTags = depth;
        while (true)
        {
            // Start the file transfers other threads handed over (zero copy, O_DIRECT copies).
            StartHandedTransfers();

            // Commit what the workers finished: one pop takes the whole stack.
            int tag = Interlocked.Exchange(ref _completedHead, -1);
            if (_options.BatchIo)
            {
                CommitBatch(ring, tag);
                tag = -1;
            }

            while (tag >= 0)
            {
                int next = _completedNext[tag];
                Account(tag, _results[tag]);
                io_uring_sqe* sqe = NextSqe(ring);
                PrepareTagCommand(sqe, UblkCommand.CommitAndFetchReq, queueId, tag, _results[tag]);
                tag = next;
            }

            while (ring.TryPeekCqe(out io_uring_cqe cqe))
            {
                ring.AdvanceCq(1);
                if (_waker.TryComplete(cqe.user_data))
                {
                    if (cqe.res < 0 && cqe.res != Errno.ECANCELED.ToResult())
                    {
                        throw ErrnoException.FromErrno(ErrnoExtensions.ErrnoOf(cqe.res), "read", "eventfd", $"ublk queue {QueueId} wake-up");
                    }

                    continue;
                }

                if (_options.BatchIo && TryBatchCompleted(ring, cqe))
                {
                    continue;
                }

                if (cqe.user_data >= TransferUserData)
                {
                    TransferStepCompleted((int)(cqe.user_data - TransferUserData), cqe.res);
                    continue;
                }

                if (cqe.res == UblkLimits.IoResOk)
                {
                    Dispatch((int)cqe.user_data);
                }
                else
                {
                    // -ENODEV: the device stops and this tag is aborted. Anything else is a
                    // command the driver refused; the tag is unusable either way.
                    armedTags--;
                    if (cqe.res != UblkLimits.IoResAbort)
                    {
                        LogTagFailed(_logger, QueueId, (int)cqe.user_data, ErrnoExtensions.ErrnoOf(cqe.res).Describe());
                    }
                }
            }

            if (Volatile.Read(ref _abortRequested) != 0)
            {
                // Closing the ring cancels a still armed read, but asynchronously: Dispose then
                // keeps its 8 bytes (the waker stays armed).
                return;
            }

            bool armed = _options.BatchIo ? _fetchesArmed > 0 || _commitsInFlight != 0 || BatchHasPending : armedTags > 0;
            if (!armed && Volatile.Read(ref _outstanding) == 0 && Volatile.Read(ref _completedHead) < 0)
            {
                // Every tag aborted and nothing left to commit. Complete our own eventfd read
                // before leaving, so the kernel is not writing its counter after this returns.
                if (_waker.IsArmed)
                {
                    _waker.ForceWake();
                    ring.SubmitAndWait(1);
                    DrainWake(ring);
                }

                return;
            }

            _waker.Arm(ring);

            // Announce the sleep, then look once more: a completion pushed before the
            // announcement is seen here; one pushed after it finds us asleep and wakes us.
            bool sleep = _waker.TryBeginSleep();
            if (!sleep || Volatile.Read(ref _completedHead) >= 0 || Volatile.Read(ref _transferHead) >= 0 || Volatile.Read(ref _abortRequested) != 0)
            {
                if (sleep)
                {
                    _waker.EndSleep();
                }

                // Not Submit: on a DEFER_TASKRUN ring only an enter with GETEVENTS runs the
                // driver's task work that posts newly arrived requests; 0 never sleeps.
                ring.SubmitAndWait(0);
                continue;
            }

            // Idle now, so this costs the I/O path nothing: the thread's managed allocations so
            // far, for the test that the I/O path allocates nothing.
            Volatile.Write(ref _allocatedBytes, GC.GetAllocatedBytesForCurrentThread());
            ring.SubmitAndWait(1);
            _waker.EndSleep();
        }
    }

    /// <summary>Hands the request in <paramref name="tag"/>'s descriptor to the engine.</summary>
    private void Dispatch(int tag)
    {
        BlockRequest request = _requests[tag];
        ublksrv_io_desc descriptor = _descriptors[tag];
        PrepareFromDescriptor(
            request,
            descriptor,
            _options.ZeroCopy ? RequestBuffer.Registered(this, _options.BufferBytes) : RequestBuffer.Memory(BufferOf(tag), _options.BufferBytes, this));
        _requestCount++;
        if (request.Op == BlockOp.Flush)
        {
            _flushStart[tag] = Stopwatch.GetTimestamp();
        }

        Interlocked.Increment(ref _outstanding);
        _submit(request);
    }

    /// <summary>Counts a request as its result is committed; queue thread only, plain stores.</summary>
    private void Account(int tag, int result)
    {
        BlockRequest request = _requests[tag];
        if (result < 0)
        {
            _errors++;
        }

        switch (request.Op)
        {
            case BlockOp.Read:
                _reads++;
                _bytesRead += Math.Max(result, 0);
                break;
            case BlockOp.Write:
                _writes++;
                _bytesWritten += Math.Max(result, 0);
                break;
            case BlockOp.Flush:
                _flushes++;
                _flushLatency.Record(Stopwatch.GetTimestamp() - _flushStart[tag]);
                break;
            default:
                _discards++;
                break;
        }
    }

    /// <summary>
    /// FETCH_REQ or COMMIT_AND_FETCH_REQ for <paramref name="tag"/>: with the tag's buffer, or with
    /// zero copy no buffer and, in sqe->addr, the struct ublk_auto_buf_reg that names the ring
    /// slot for the next request's pages: slot = tag, no flags (without FALLBACK a request whose
    /// pages cannot be registered fails with EIO in the kernel instead of arriving without data).
    /// </summary>
    private void PrepareTagCommand(io_uring_sqe* sqe, uint command, ushort queueId, int tag, int result)
    {
        if (_options.ZeroCopy)
        {
            UblkSqe.Io(sqe, _charDeviceFd, command, queueId, (ushort)tag, result, 0, (ulong)tag);
            sqe->addr = (ulong)tag;
        }
        else
        {
            UblkSqe.Io(sqe, _charDeviceFd, command, queueId, (ushort)tag, result, (ulong)BufferOf(tag), (ulong)tag);
        }
    }

    /// <summary>Reaps what is there, noting the eventfd read's completion.</summary>
    private void DrainWake(IoUring ring)
    {
        while (ring.TryPeekCqe(out io_uring_cqe cqe))
        {
            ring.AdvanceCq(1);
            _waker.TryComplete(cqe.user_data);
        }
    }

    /// <summary>
    /// A free SQE. The SQ has room for every tag plus the eventfd read, and each round submits
    /// what it prepared, so running out means a bug; one submit is tried before saying so.
    /// </summary>
    private static io_uring_sqe* NextSqe(IoUring ring)
    {
        if (ring.TryGetSqe(out io_uring_sqe* sqe))
        {
            return sqe;
        }

        ring.Submit();
        if (ring.TryGetSqe(out sqe))
        {
            return sqe;
        }

        throw new InvalidOperationException("The queue's submission ring is full.");
    }

    [LoggerMessage(Level = LogLevel.Error, Message = "ublk queue {QueueId} failed")]
    private static partial void LogQueueFailed(ILogger logger, Exception exception, int queueId);

    [LoggerMessage(Level = LogLevel.Warning, Message = "ublk queue {QueueId}: could not pin to its CPUs ({Reason}); running unpinned")]
    private static partial void LogPinFailed(ILogger logger, int queueId, string reason);

    [LoggerMessage(Level = LogLevel.Warning, Message = "ublk queue {QueueId}: could not mark the thread as an I/O flusher ({Reason}); under memory pressure, reclaim may wait on this device")]
    private static partial void LogIoFlusherFailed(ILogger logger, int queueId, string reason);

    [LoggerMessage(Level = LogLevel.Warning, Message = "ublk queue {QueueId} tag {Tag}: the driver refused a command: {Error}")]
    private static partial void LogTagFailed(ILogger logger, int queueId, int tag, string error);

    [LoggerMessage(Level = LogLevel.Information, Message = "ublk queues: rings with {Mode} task work, not DEFER_TASKRUN: kernel {Kernel} (DEFER_TASKRUN from {DeferFrom} on, where a killed server's ring teardown is safe with it; LOOPORDER_TASKRUN overrides)")]
    private static partial void LogTaskrunChosen(ILogger logger, QueueTaskrun mode, Version kernel, Version deferFrom);

    [LoggerMessage(Level = LogLevel.Warning, Message = "ublk queue {QueueId}: still in use at dispose; leaking its buffers rather than freeing memory the kernel or the engine may still write")]
    private static partial void LogLeakingBuffers(ILogger logger, int queueId);
}
