namespace LoopOrder.Queues.Snapshots;

/// <summary>The live storage a <see cref="CopyOnWrite"/> gate reads old contents from: the backing file.</summary>
public interface ICowSource : IDisposable
{
    /// <summary>Reads <c>destination.Length</c> bytes at <paramref name="offset"/>; what lies past the end reads as zeros.</summary>
    /// <exception cref="IOException">The read failed.</exception>
    void Read(long offset, Span<byte> destination);
}
