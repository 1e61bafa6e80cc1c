using System.Diagnostics;
using LoopOrder.Queues.Backends;
using LoopOrder.Queues.Requests;

namespace LoopOrder.Queues.Dispatch;

/// <summary>
/// A submitting thread's own way to the backend, for the one request that needs no worker: a
/// buffered write without FUA, which is a copy into the page cache that finishes inside pwrite.
/// When the Sequencer releases such a write on a thread that holds a lane of the same
/// dispatcher (a ublk queue thread, as it receives the write or lands an earlier one), the
/// write runs right there, and its acknowledgement reaches the queue before the queue thread
/// next commits: no channel hop, no worker wake-up, no completion hand-back and its wake-up.
/// Everything else, and every write released on any other thread, still goes through the
/// socket's channel (see <see cref="SocketDispatcher.Dispatch"/>).
/// </summary>
/// <remarks>
/// <para>Why not every write through the channels, as DESIGN.md's data flow draws it: measured
/// under the fio harness (bench/results/NOTES.md), a 4 KiB buffered write through a socket worker
/// cost about 80 us of CPU against the kernel loop driver's single in-kernel write, most of it
/// the two hand-overs between threads, and the worker adds nothing a page-cache copy needs. The
/// Sequencer still decides every release, so the ordering contract does not depend on which
/// thread runs a write. <see cref="Engine.EngineOptions.SubmitterWrites"/> turns lanes off.</para>
/// <para>Threading: one thread owns a lane, from <see cref="SocketDispatcher.AttachSubmitter"/>
/// to <see cref="Dispose"/>, both called on it; every field is that thread's alone. The lane is
/// found through a thread-static, so a dispatch on any other thread never sees it.</para>
/// <para>Re-entrancy: a write's report runs the Sequencer, which may release another write on
/// this same thread (one that overlapped it), so <see cref="Run"/> is entered again from inside
/// its own poll. The inner call only starts the write; the outer one polls until no start is
/// left unreported, so the stack stays flat.</para>
/// </remarks>
public sealed class SubmitterLane : IDisposable
{
    /// <summary>The lane of the current thread, if it attached one.</summary>
    [ThreadStatic]
    private static SubmitterLane? t_current;

    /// <summary>The executor, made on the owning thread; writes only.</summary>
    private readonly IBackendExecutor _executor;

    /// <summary>The owning thread's managed id (asserts only).</summary>
    private readonly int _thread;

    /// <summary>Writes started so far; the polling loop compares it before and after a poll.</summary>
    private long _starts;

    /// <summary>True while <see cref="Run"/> polls: a nested call only starts its write.</summary>
    private bool _polling;

    /// <summary>Set by <see cref="Dispose"/>.</summary>
    private bool _disposed;

    private SubmitterLane(SocketDispatcher owner, IBackendExecutor executor)
    {
        Owner = owner;
        _executor = executor;
        _thread = Environment.CurrentManagedThreadId;
    }

    /// <summary>The dispatcher whose writes this lane runs.</summary>
    internal SocketDispatcher Owner { get; }

    /// <summary>The current thread's lane, or null.</summary>
    internal static SubmitterLane? Current => t_current;

    /// <summary>Writes this lane has run (a racy read from other threads; diagnostics and tests).</summary>
    public long Writes => Volatile.Read(ref _starts);

    /// <summary>Detaches the lane from its thread and disposes its executor. On the owning thread.</summary>
    public void Dispose()
    {
        if (_disposed)
        {
            return;
        }

        Debug.Assert(Environment.CurrentManagedThreadId == _thread, "a lane is disposed on the thread that attached it");
        Debug.Assert(!_polling, "a lane is disposed from inside its own poll");
        _disposed = true;
        if (t_current == this)
        {
            t_current = null;
        }

        _executor.Dispose();
    }

    /// <summary>
    /// Makes the calling thread's lane from <paramref name="backend"/>, or returns null when the
    /// backend has no writes that finish in the call (<see cref="IBackend.CreateSubmitterExecutor"/>).
    /// </summary>
    /// <exception cref="InvalidOperationException">The thread already holds a lane.</exception>
    internal static SubmitterLane? Attach(SocketDispatcher owner, IBackend backend, IBackendCompletion completion)
    {
        if (t_current is { } existing)
        {
            throw new InvalidOperationException(
                existing.Owner == owner
                    ? "this thread already holds a lane of this engine"
                    : "this thread already holds another engine's lane: a queue thread serves one device");
        }

        if (backend.CreateSubmitterExecutor(completion) is not { } executor)
        {
            return null;
        }

        var lane = new SubmitterLane(owner, executor);
        t_current = lane;
        return lane;
    }

    /// <summary>
    /// Runs <paramref name="request"/> (a write without FUA) on this thread; it is
    /// reported to the Sequencer before this returns, unless this call is nested in another
    /// <see cref="Run"/>, whose loop then reports it.
    /// </summary>
    internal void Run(BlockRequest request)
    {
        Debug.Assert(Environment.CurrentManagedThreadId == _thread, "a lane runs only on its own thread");
        Debug.Assert(request.IsPlainWrite, $"{request} is not a lane's write");
        Debug.Assert(!_disposed, "a disposed lane is no thread's current lane");
        _executor.Start(request);
        _starts++;
        if (_polling)
        {
            return;
        }

        _polling = true;
        try
        {
            long polled;
            do
            {
                polled = _starts;
                _executor.Poll(block: false);
            }
            while (_starts != polled);
        }
        finally
        {
            _polling = false;
        }
    }
}
