using System.Diagnostics;
using System.Threading.Channels;
using LoopOrder.Interop;
using LoopOrder.Queues.Backends;
using LoopOrder.Queues.Requests;

namespace LoopOrder.Queues.Dispatch;

/// <summary>
/// One socket worker: a dedicated OS thread pinned to its node's CPUs that owns one
/// <see cref="IBackendExecutor"/>, takes requests off its node's channel, starts them, and polls
/// the executor, which reports completions to the Sequencer through this worker.
/// </summary>
/// <remarks>
/// <para>Sleeping (the only synchronisation with producers besides the channel) is a
/// <see cref="SleepGate"/>, whose remarks say why no wake is lost: the worker announces its sleep,
/// looks at the channel once more, and only if it is empty calls <c>Poll(block: true)</c>; a
/// producer (<see cref="SocketDispatcher.Dispatch"/>) writes the request to the channel and then
/// calls <see cref="IBackendExecutor.Wake"/> only when it claims the wake of a sleeping worker. A
/// wake that races with the worker's own return from <c>Poll</c> is remembered by the executor
/// ("makes a blocked or the next Poll return") and only costs one spurious loop. Producers that
/// find the worker awake write nothing and make no system call, which is the common case under
/// load, and go on to wake another of the node's workers that sleeps.</para>
/// <para>Threading: <see cref="Run"/> is the thread body; every field it writes is read by other
/// threads only through the interlocked or volatile accesses named in its documentation.</para>
/// </remarks>
internal sealed class SocketWorker : IBackendCompletion
{
    /// <summary>
    /// At most this many requests are started before the executor is polled again, so a flood of
    /// arrivals cannot delay the reaping (and acknowledgement) of finished work. Twice a QD32 burst,
    /// so a typical queue's worth still goes to the device in one submission.
    /// </summary>
    internal const int MaxStartsPerPoll = 64;

    /// <summary>This worker's node's requests (shared with the node's other workers, if any).</summary>
    private readonly ChannelReader<BlockRequest> _reader;

    /// <summary>Makes this worker's executor, on this worker's thread.</summary>
    private readonly IBackend _backend;

    /// <summary>Where landed requests go (the Sequencer).</summary>
    private readonly IBackendCompletion _completion;

    /// <summary>CPUs to pin to; empty to leave the thread unpinned.</summary>
    private readonly int[] _cpus;

    /// <summary>The worker thread.</summary>
    private readonly Thread _thread;

    /// <summary>Set once the thread pinned itself and made its executor, or failed to (<see cref="_startError"/>).</summary>
    private readonly ManualResetEventSlim _started = new();

    /// <summary>The executor; written by the worker thread before <see cref="_started"/> is set, read by producers (Wake) after.</summary>
    private IBackendExecutor? _executor;

    /// <summary>Why the thread could not start; read after <see cref="_started"/>.</summary>
    private Exception? _startError;

    /// <summary>Whether the worker is (about to be) blocked in Poll: see the class remarks.</summary>
    private readonly SleepGate _sleep = new();

    /// <summary>Requests started on the executor and not yet landed. Interlocked: completions may be reported from another thread.</summary>
    private int _inFlight;

    /// <summary>Set by <see cref="Stop"/>: exit once the channel is empty and nothing is in flight.</summary>
    private volatile bool _stopping;

    /// <summary>Creates (but does not start) a worker.</summary>
    /// <param name="node">Node index this worker serves.</param>
    /// <param name="index">Index among the node's workers.</param>
    /// <param name="reader">The node's channel.</param>
    /// <param name="backend">Backend to make the executor from.</param>
    /// <param name="completion">Where landed requests go.</param>
    /// <param name="cpus">CPUs to pin to; empty for none.</param>
    public SocketWorker(int node, int index, ChannelReader<BlockRequest> reader, IBackend backend, IBackendCompletion completion, int[] cpus)
    {
        Node = node;
        Index = index;
        _reader = reader;
        _backend = backend;
        _completion = completion;
        _cpus = cpus;
        _thread = new Thread(Run)
        {
            // Background: a worker stuck on a hung backend must not keep a dying process alive.
            IsBackground = true,
            Name = $"loop-n{node}w{index}",
        };
    }

    /// <summary>Node index this worker serves.</summary>
    public int Node { get; }

    /// <summary>Index among the node's workers.</summary>
    public int Index { get; }

    /// <summary>The worker thread's managed id (valid once started).</summary>
    public int ManagedThreadId => _thread.ManagedThreadId;

    /// <summary>The CPUs the thread is pinned to; empty when it runs unpinned.</summary>
    public ReadOnlySpan<int> Cpus => _cpus;

    /// <summary>True until the thread has exited. For tests.</summary>
    internal bool IsAlive => _thread.IsAlive;

    /// <summary>True while the worker is blocked (or about to block) in Poll. For tests.</summary>
    internal bool IsSleeping => _sleep.IsSleeping;

    /// <summary>Starts the thread without waiting for it; <see cref="WaitStarted"/> waits.</summary>
    public void Begin() => _thread.Start();

    /// <summary>Waits until the thread is pinned and has its executor; rethrows why it could not.</summary>
    public void WaitStarted()
    {
        _started.Wait();
        if (_startError is not null)
        {
            throw new InvalidOperationException($"socket worker {_thread.Name} could not start: {_startError.Message}", _startError);
        }
    }

    /// <summary>
    /// Producer side of the sleep protocol, called after the request was written to the channel:
    /// wakes the worker if, and only if, it is (about to be) blocked. Returns true when it did.
    /// </summary>
    public bool WakeIfSleeping()
    {
        if (!_sleep.WakeIfSleeping())
        {
            return false;
        }

        _executor!.Wake();
        return true;
    }

    /// <summary>Asks the worker to exit once its channel is empty and nothing it started is in flight.</summary>
    public void Stop()
    {
        _stopping = true;

        // Unconditional: the flag protocol orders channel writes, not the stop flag.
        _executor?.Wake();
    }

    /// <summary>Waits for the thread to exit (after <see cref="Stop"/>).</summary>
    public void Join() => _thread.Join();

    /// <inheritdoc />
    public void Landed(BlockRequest request, int result)
    {
        int inFlight = Interlocked.Decrement(ref _inFlight);
        Debug.Assert(inFlight >= 0, $"{request} landed on worker {_thread.Name} that did not start it");
        _completion.Landed(request, result);
    }

    /// <summary>The thread body: pin, make the executor, then drain → start → poll until stopped.</summary>
    private void Run()
    {
        IBackendExecutor executor;
        try
        {
            if (_cpus.Length > 0)
            {
                CpuAffinity.SetCurrentThread(_cpus);
            }

            // Part of a block device's I/O path, like the queue threads (see IoFlusher). Best
            // effort: the queue threads of the same process report a refusal.
            _ = IoFlusher.TrySetCurrentThread();

            // Made here, after pinning: a ring's memory is then allocated on this node, and a ring
            // that binds its submitter (IORING_SETUP_SINGLE_ISSUER) binds this thread.
            executor = _backend.CreateExecutor(this);
            _executor = executor;
        }
        catch (Exception e)
        {
            _startError = e;
            _started.Set();
            return;
        }

        _started.Set();
        try
        {
            Loop(executor);
        }
        finally
        {
            executor.Dispose();
        }
    }

    private void Loop(IBackendExecutor executor)
    {
        while (true)
        {
            int started = 0;
            while (started < MaxStartsPerPoll && _reader.TryRead(out BlockRequest? request))
            {
                Interlocked.Increment(ref _inFlight);
                executor.Start(request);
                started++;
            }

            if (started > 0)
            {
                // Push them to the device and reap what is done, then look at the channel again:
                // completions reported here may have released more requests.
                executor.Poll(block: false);
                continue;
            }

            // Nothing new: announce the sleep, then look once more before blocking.
            if (!_sleep.TryBeginSleep())
            {
                continue;
            }

            if (_reader.TryPeek(out _))
            {
                // Something arrived meanwhile. If a producer already claimed the wake its Wake is
                // pending in the executor: one spurious return from a later Poll, nothing lost.
                _sleep.EndSleep();
                continue;
            }

            if (_stopping && Volatile.Read(ref _inFlight) == 0)
            {
                _sleep.EndSleep();
                return;
            }

            executor.Poll(block: true);
            _sleep.EndSleep();
        }
    }
}
