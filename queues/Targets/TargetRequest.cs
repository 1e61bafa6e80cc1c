using LoopOrder.Queues.Ordering;

namespace LoopOrder.Queues.Targets;

/// <summary>One device as a target sees it: its own option values and the common options that shape its storage.</summary>
public sealed class TargetRequest
{
    /// <summary>The target's option values by name (case-insensitive); absent when not given.</summary>
    public IReadOnlyDictionary<string, string> Values { get; init; } = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);

    /// <summary>The device size in bytes (a multiple of the block size), or null when none was given.</summary>
    public long? Size { get; init; }

    /// <summary>Logical block size, 512 or 4096.</summary>
    public int BlockSize { get; init; } = 512;

    /// <summary>A read-only device.</summary>
    public bool ReadOnly { get; init; }

    /// <summary>Bypass the target's cache (only with <see cref="TargetCapabilities.DirectIo"/>).</summary>
    public bool DirectIo { get; init; }

    /// <summary>What a flush promises; a target whose storage cannot keep it refuses (an NBD export without FLUSH under drain or strict).</summary>
    public OrderingMode Ordering { get; init; } = OrderingMode.Drain;

    /// <summary>True when a restarted daemon reattaches the device: the storage must exist already and is never created.</summary>
    public bool Recovering { get; init; }

    /// <summary>The value of option <paramref name="name"/>, or null.</summary>
    /// <param name="name">The option's name.</param>
    public string? Value(string name) => Values.TryGetValue(name, out string? v) ? v : null;
}
