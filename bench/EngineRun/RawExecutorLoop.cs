using LoopOrder.Queues.Backends;
using LoopOrder.Queues.Requests;

namespace LoopOrder.Bench.EngineRun;

/// <summary>
/// The same closed loop as <see cref="ClosedLoop"/> but straight on one backend executor on one
/// thread: no Sequencer, no channel, no worker protocol. The table's "executor" row, so a gap
/// between the engine and fio can be split into what the engine adds and what the backend does.
/// </summary>
internal sealed class RawExecutorLoop : SlotLoad, IBackendCompletion
{
    private readonly IBackend _backend;
    private readonly Thread _thread;
    private IBackendExecutor? _executor;

    /// <summary>Slots not yet back after the stop; only the loop's thread touches it.</summary>
    private int _outstanding;

    public RawExecutorLoop(IBackend backend, int depth, int flushEvery)
        : base(depth, flushEvery, backend.Length)
    {
        _backend = backend;
        _thread = new Thread(Run) { IsBackground = true, Name = "raw-executor" };
    }

    public override void Start() => _thread.Start();

    public override bool StopAndDrain(TimeSpan timeout)
    {
        RequestStop();
        return _thread.Join(timeout);
    }

    public void Landed(BlockRequest request, int result)
    {
        if (Finished(request, result))
        {
            Issue(request);
        }
        else
        {
            _outstanding--;
        }
    }

    private void Run()
    {
        IBackendExecutor executor = _backend.CreateExecutor(this);
        _executor = executor;
        _outstanding = Slots.Length;
        foreach (BlockRequest slot in Slots)
        {
            Issue(slot);
        }

        while (_outstanding > 0)
        {
            executor.Poll(block: true);
        }

        executor.Dispose();
    }

    private void Issue(BlockRequest slot)
    {
        PrepareNext(slot);
        _executor!.Start(slot);
    }
}
