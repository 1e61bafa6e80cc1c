namespace LoopOrder.Interop;

/// <summary>
/// The sleep/wake handshake between one owner thread that blocks when it has nothing to do and
/// any number of producers that hand it work: producers pay a system call to wake the owner
/// only when it is (about to be) blocked. <see cref="RingWaker"/> pairs it with an eventfd read
/// armed in the owner's io_uring; a caller with another way to wake its owner uses it alone.
/// </summary>
/// <remarks>
/// <para><b>States</b> (one int, changed only by interlocked operations):</para>
/// <list type="bullet">
/// <item><c>Awake</c>: the owner runs and will look at its work before it blocks.</item>
/// <item><c>Sleeping</c>: the owner announced it is about to block, or is blocked.</item>
/// <item><c>Woken</c>: a producer asked for a wake that the owner has not taken yet; when the
///   state was <c>Sleeping</c>, that producer (the only one) must signal the owner.</item>
/// </list>
/// <para><b>Owner</b>: <see cref="TryBeginSleep"/> moves Awake to Sleeping; if a wake is pending
/// (Woken) it takes it, returns false, and the owner must go round its loop instead of blocking.
/// After blocking (or deciding not to), <see cref="EndSleep"/> returns to Awake, taking any wake
/// that arrived meanwhile.</para>
/// <para><b>Producers</b> publish their work first, then call one of:</para>
/// <list type="bullet">
/// <item><see cref="Wake"/>, sticky: leaves a wake for the owner's next <see cref="TryBeginSleep"/>
///   even when the owner is awake, for an owner that has no work of its own to look at (an
///   executor whose contract is "makes a blocked or the next poll return").</item>
/// <item><see cref="WakeIfSleeping"/>, for an owner that looks at its work source once more
///   after <see cref="TryBeginSleep"/> succeeded and before it blocks: nothing is written when the
///   owner is awake, so producers of a busy owner share the line read-only; with several owners
///   on one source a producer can go on to the next one when this one is awake.</item>
/// </list>
/// <para><b>Why no wake is lost.</b> Both sides store, then load, with a full fence between:
/// the producer stores its work, fences (<see cref="Interlocked.MemoryBarrier"/>) and loads the
/// state; the owner stores the state by an interlocked operation (a full fence) and then loads
/// the work (looks at its source, or returns from its poll to a caller that does). With two
/// full fences at least one side sees the other's store. If the producer sees Awake it either
/// leaves Woken (sticky: the owner's compare-exchange then fails and it goes round) or leaves
/// nothing because the owner, which stored Sleeping after the producer loaded Awake, must then see
/// the work on its recheck. If the producer sees Sleeping, exactly one producer wins the
/// compare-exchange to Woken and signals, so the owner blocks at most until that signal. If it
/// sees Woken, a wake is pending and the owner's interlocked take of it comes later in the
/// state's order, so the owner's look at its work after that sees this producer's work too.
/// Spurious wakes (a signal that lands after the owner woke for another reason) only cost the
/// owner one more turn of its loop.</para>
/// </remarks>
public sealed class SleepGate
{
    private const int Awake = 0;
    private const int Sleeping = 1;
    private const int Woken = 2;

    private int _state;

    /// <summary>True while the owner is (about to be) blocked and no producer has claimed its wake yet. Any thread; for tests and diagnostics.</summary>
    public bool IsSleeping => Volatile.Read(ref _state) == Sleeping;

    /// <summary>True while a wake is pending that the owner has not taken. Any thread; for tests and diagnostics.</summary>
    public bool IsWakePending => Volatile.Read(ref _state) == Woken;

    /// <summary>
    /// Owner only: announces that the owner is about to block. False when a wake was pending (it
    /// is taken now): do not block, go round the loop. After true, an owner woken by
    /// <see cref="WakeIfSleeping"/> looks at its work once more before it blocks.
    /// </summary>
    public bool TryBeginSleep()
    {
        if (Interlocked.CompareExchange(ref _state, Sleeping, Awake) == Awake)
        {
            return true;
        }

        // Woken (only the owner leaves Awake for Sleeping, so nothing else is possible here).
        Interlocked.Exchange(ref _state, Awake);
        return false;
    }

    /// <summary>Owner only: back to awake after blocking, or after deciding not to block. Takes any wake that arrived meanwhile.</summary>
    public void EndSleep() => Interlocked.Exchange(ref _state, Awake);

    /// <summary>
    /// Producer, after publishing its work: makes the owner's current or next sleep end. True when
    /// the caller must signal the owner now (it was blocked or about to block, and this call is
    /// the one that claimed the wake).
    /// </summary>
    public bool Wake()
    {
        Interlocked.MemoryBarrier();
        int state = Volatile.Read(ref _state);
        while (state != Woken)
        {
            int seen = Interlocked.CompareExchange(ref _state, Woken, state);
            if (seen == state)
            {
                return state == Sleeping;
            }

            state = seen;
        }

        return false;
    }

    /// <summary>
    /// Producer, after publishing its work, for an owner that rechecks its work after
    /// <see cref="TryBeginSleep"/>: true when the owner was (about to be) blocked and this call
    /// claimed the wake, so the caller must signal it now; false (and nothing changed) otherwise.
    /// </summary>
    public bool WakeIfSleeping()
    {
        Interlocked.MemoryBarrier();
        return Volatile.Read(ref _state) == Sleeping
            && Interlocked.CompareExchange(ref _state, Woken, Sleeping) == Sleeping;
    }
}
