namespace LoopOrder.Queues.Targets.Nbd;

/// <summary>
/// A deliberate breakage of <see cref="NbdConnectionSet"/>'s flush, for proving that the
/// weak-server test can fail (as <see cref="Ordering.ISequencerMutant"/> is for the Sequencer).
/// Production passes none (null). The breakages live in LoopOrder.Verification (NbdMutants).
/// </summary>
public interface INbdSetMutant
{
    /// <summary>
    /// Whether a set flush on a server without CAN_MULTI_CONN goes to one connection only, as if
    /// the server had promised that one flush covers every connection.
    /// </summary>
    bool ShouldFlushOneConnection();
}
