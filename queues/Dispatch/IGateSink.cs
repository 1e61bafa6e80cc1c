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

/// <summary>The one way a gate takes its sink: once, before the first write.</summary>
internal static class GateSink
{
    /// <summary>Sets <paramref name="slot"/> to <paramref name="sink"/>; a second dispatcher is a bug.</summary>
    /// <param name="slot">The gate's field.</param>
    /// <param name="sink">The dispatcher.</param>
    /// <param name="gate">The gate, for the message.</param>
    /// <exception cref="InvalidOperationException">The gate already has a dispatcher.</exception>
    public static void AttachOnce(ref IGateSink? slot, IGateSink sink, string gate)
    {
        ArgumentNullException.ThrowIfNull(sink);
        if (Interlocked.CompareExchange(ref slot, sink, null) is not null)
        {
            throw new InvalidOperationException($"The {gate} already has a dispatcher.");
        }
    }
}
