using LoopOrder.Queues.Targets.Nbd;

namespace LoopOrder.Verification.Mutants;

/// <summary>
/// Deliberate breakages of the NBD target's flush across connections, for proving that the
/// weak-server test (a server with a write cache per connection) can fail. Never set outside tests.
/// </summary>
public enum NbdMutant
{
    /// <summary>The NBD target as designed.</summary>
    None = 0,

    /// <summary>
    /// A flush goes to one connection only even when the server does not state CAN_MULTI_CONN:
    /// writes sent on the other connections stay in their caches (breaks the multi-connection
    /// flush rule of issue 17 and C1 through it).
    /// </summary>
    FlushOneConnection,
}

/// <summary>The <see cref="INbdSetMutant"/> of each <see cref="NbdMutant"/>.</summary>
public static class NbdMutants
{
    /// <summary>What the connection set consults for <paramref name="mutant"/>: null for <see cref="NbdMutant.None"/>.</summary>
    /// <param name="mutant">The breakage.</param>
    public static INbdSetMutant? Policy(this NbdMutant mutant) => mutant switch
    {
        NbdMutant.None => null,
        NbdMutant.FlushOneConnection => FlushOneConnection.Instance,
        _ => throw new ArgumentOutOfRangeException(nameof(mutant), mutant, "unknown mutant"),
    };

    /// <summary>One flush on one connection, whatever the server promised.</summary>
    private sealed class FlushOneConnection : INbdSetMutant
    {
        public static readonly FlushOneConnection Instance = new();

        public bool ShouldFlushOneConnection() => true;
    }
}
