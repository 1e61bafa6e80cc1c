using LoopOrder.Queues.Engine;
using LoopOrder.Queues.Requests;

namespace LoopOrder.Bench.EngineRun;

/// <summary>
/// A closed-loop load like fio's through the engine: each slot is resubmitted from its own
/// completion callback. The callback runs on the worker thread that finished the request, so the
/// whole loop (ack, next submit, channel, start) stays on that thread: no driver thread, no
/// hand-off, nothing the driver adds that a queue thread would not.
/// </summary>
internal sealed class ClosedLoop(BlockEngine engine, int depth, int flushEvery, long deviceBytes)
    : SlotLoad(depth, flushEvery, deviceBytes), IRequestCompletion
{
    private readonly ManualResetEventSlim _drained = new();
    private int _outstanding;

    public override void Start()
    {
        _outstanding = Slots.Length;
        foreach (BlockRequest slot in Slots)
        {
            Issue(slot);
        }
    }

    public override bool StopAndDrain(TimeSpan timeout)
    {
        RequestStop();
        return _drained.Wait(timeout);
    }

    public void Complete(BlockRequest request, int result)
    {
        if (Finished(request, result))
        {
            Issue(request);
        }
        else if (Interlocked.Decrement(ref _outstanding) == 0)
        {
            _drained.Set();
        }
    }

    public override void Dispose()
    {
        base.Dispose();
        _drained.Dispose();
    }

    private void Issue(BlockRequest slot)
    {
        PrepareNext(slot);
        engine.Submit(slot);
    }
}
