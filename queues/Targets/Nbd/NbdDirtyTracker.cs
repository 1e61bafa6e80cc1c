namespace LoopOrder.Queues.Targets.Nbd;

/// <summary>
/// Which connections of a set carried a write since their last flush (nbdkit's multi-conn
/// "track-dirty" idea, applied by the client): a flush needs to go only to those.
/// </summary>
/// <remarks>
/// <para>A connection is marked when the reply to a write, trim or write-zeroes arrives, before
/// that command's completion is reported, not when it is sent. A flush is handed to the set only
/// after every write it must cover has completed (the engine's Sequencer orders that), so each
/// such write has marked its connection by then, and <see cref="Take"/> sees the mark. A write
/// that completes while a flush is being taken either marks before the take (the flush, sent
/// after its reply, covers it) or after (the mark stays for the next flush): none is lost.
/// Marking at send time would be wrong: a write sent but not replied to when a flush takes the
/// mark would leave its connection clean, and a later flush would skip it.</para>
/// <para>A flush that fails gives its connections back their marks (<see cref="Mark"/>): what it
/// should have made durable is not known to be.</para>
/// <para>Thread-safe; every access is interlocked.</para>
/// </remarks>
public sealed class NbdDirtyTracker
{
    private readonly int[] _dirty;

    /// <summary>Creates a tracker for <paramref name="connections"/> connections, all clean.</summary>
    /// <param name="connections">Number of connections.</param>
    public NbdDirtyTracker(int connections)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(connections, 1);
        _dirty = new int[connections];
    }

    /// <summary>Number of connections tracked.</summary>
    public int Count => _dirty.Length;

    /// <summary>Connection <paramref name="connection"/> completed a write (or a flush of it failed).</summary>
    /// <param name="connection">Index of the connection.</param>
    public void Mark(int connection) => Interlocked.Exchange(ref _dirty[connection], 1);

    /// <summary>Whether <paramref name="connection"/> carried a write since its last flush was taken.</summary>
    /// <param name="connection">Index of the connection.</param>
    public bool IsDirty(int connection) => Volatile.Read(ref _dirty[connection]) != 0;

    /// <summary>
    /// Clears every mark and says which were set: <paramref name="taken"/>[i] is true for each
    /// connection the caller must now flush. Returns how many.
    /// </summary>
    /// <param name="taken">One entry per connection; overwritten.</param>
    public int Take(Span<bool> taken)
    {
        if (taken.Length < _dirty.Length)
        {
            throw new ArgumentException("one entry per connection is needed", nameof(taken));
        }

        int count = 0;
        for (int i = 0; i < _dirty.Length; i++)
        {
            taken[i] = Interlocked.Exchange(ref _dirty[i], 0) != 0;
            count += taken[i] ? 1 : 0;
        }

        return count;
    }
}
