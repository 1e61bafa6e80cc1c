namespace LoopOrder.Queues.Ordering;

/// <summary>What a flush promises beyond the kernel's contract (DESIGN.md, "The contract").</summary>
public enum OrderingMode
{
    /// <summary>
    /// Default. A flush's sync starts only after every write received before it, on every queue,
    /// has landed; writes received after it proceed at once.
    /// </summary>
    Drain = 0,

    /// <summary>
    /// As <see cref="Drain"/>, and writes received after a flush start only once that flush is
    /// acknowledged, so the backing file is a prefix-consistent image at every instant.
    /// </summary>
    Strict = 1,

    /// <summary>
    /// Only what the kernel requires: a flush syncs at once, like the loop driver. For comparison.
    /// </summary>
    None = 2,
}
