using LoopOrder.Queues.Requests;

namespace LoopOrder.Queues.Dispatch;

/// <summary>Where an <see cref="IWriteGate"/> sends the writes it held once they may go on: its <see cref="GatedDispatcher"/>.</summary>
public interface IGateSink
{
    /// <summary>What the write waited for is durable: dispatch it to the backend.</summary>
    void Release(BlockRequest write);

    /// <summary>What the write waited for could not be made durable: it fails with <paramref name="result"/> and never reaches the backend.</summary>
    void Fail(BlockRequest write, int result);
}
