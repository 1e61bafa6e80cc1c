using LoopOrder.Queues.Tracking;

namespace LoopOrder.Verification.Tracking;

/// <summary>
/// Tracker metadata in memory with a volatile cache, for tests and the checker: a write reaches
/// the cache at once and the durable image only when a sync succeeds; <see cref="CrashImage"/>
/// gives what a power cut could leave (the durable image plus any subset of the sectors written
/// since the last successful sync: a torn write). Syncs and writes can be made to fail.
/// </summary>
public sealed class MemoryTrackerStore : ITrackerStore
{
    private const int Sector = 512;

    private readonly List<(long Offset, byte[] Data)> _unsynced = [];
    private byte[] _cache;
    private byte[] _durable;

    /// <summary>An empty store, or one that holds <paramref name="image"/> durably (a crash image being reopened).</summary>
    public MemoryTrackerStore(byte[]? image = null)
    {
        _cache = image is null ? [] : (byte[])image.Clone();
        _durable = (byte[])_cache.Clone();
    }

    /// <summary>Every later sync fails (an fdatasync that reports a writeback error).</summary>
    public bool FailSyncs { get; set; }

    /// <summary>Every later write fails.</summary>
    public bool FailWrites { get; set; }

    /// <summary>Called with "write" or "sync" (and "sync-failed") as each happens: tests interleave it with the backend's events.</summary>
    public Action<string>? Log { get; set; }

    /// <summary>Successful syncs.</summary>
    public int Syncs { get; private set; }

    /// <inheritdoc />
    public int Read(long offset, Span<byte> buffer)
    {
        if (offset >= _cache.Length)
        {
            return 0;
        }

        int n = (int)Math.Min(buffer.Length, _cache.Length - offset);
        _cache.AsSpan((int)offset, n).CopyTo(buffer);
        return n;
    }

    /// <inheritdoc />
    public void Write(long offset, ReadOnlySpan<byte> data)
    {
        if (FailWrites)
        {
            throw new IOException("injected metadata write failure");
        }

        Log?.Invoke("write");
        Grow(ref _cache, offset + data.Length);
        data.CopyTo(_cache.AsSpan((int)offset));
        _unsynced.Add((offset, data.ToArray()));
    }

    /// <inheritdoc />
    public void Sync()
    {
        if (FailSyncs)
        {
            Log?.Invoke("sync-failed");
            throw new IOException("injected metadata sync failure");
        }

        _durable = (byte[])_cache.Clone();
        _unsynced.Clear();
        Syncs++;
        Log?.Invoke("sync");
    }

    /// <summary>
    /// What a power cut now could leave: the durable image, and each 512-byte sector of each write
    /// since the last successful sync applied or not as <paramref name="random"/> decides (none
    /// without one).
    /// </summary>
    public byte[] CrashImage(Random? random = null)
    {
        byte[] image = (byte[])_durable.Clone();
        foreach ((long offset, byte[] data) in _unsynced)
        {
            for (int s = 0; s < data.Length; s += Sector)
            {
                if (random is not null && random.Next(2) == 0)
                {
                    int n = Math.Min(Sector, data.Length - s);
                    Grow(ref image, offset + s + n);
                    data.AsSpan(s, n).CopyTo(image.AsSpan((int)offset + s));
                }
            }
        }

        return image;
    }

    /// <inheritdoc />
    public void Dispose()
    {
    }

    private static void Grow(ref byte[] buffer, long length)
    {
        if (buffer.Length < length)
        {
            Array.Resize(ref buffer, (int)length);
        }
    }
}
