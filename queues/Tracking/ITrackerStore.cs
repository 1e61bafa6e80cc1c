namespace LoopOrder.Queues.Tracking;

/// <summary>
/// Where a <see cref="ChangeTracker"/> keeps its metadata: a file in production, memory with
/// torn writes and failing syncs in tests. Only the tracker's commit thread writes and syncs.
/// </summary>
public interface ITrackerStore : IDisposable
{
    /// <summary>Reads up to <c>buffer.Length</c> bytes at <paramref name="offset"/>; returns how many were there (0 past the end).</summary>
    int Read(long offset, Span<byte> buffer);

    /// <summary>Writes <paramref name="data"/> at <paramref name="offset"/> (into the page cache: not yet durable).</summary>
    /// <exception cref="IOException">The write failed.</exception>
    void Write(long offset, ReadOnlySpan<byte> data);

    /// <summary>
    /// Gives back <paramref name="length"/> bytes at <paramref name="offset"/>, which will read as
    /// zeros (a hole where the filesystem can punch one). Not made durable: a lost discard only
    /// keeps bytes nobody reads.
    /// </summary>
    /// <exception cref="IOException">It failed.</exception>
    void Discard(long offset, long length) => Write(offset, new byte[length]);

    /// <summary>Makes every earlier write durable (fdatasync).</summary>
    /// <exception cref="IOException">The sync failed: what was written may be lost.</exception>
    void Sync();
}
