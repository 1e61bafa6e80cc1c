using LoopOrder.Queues.Targets.File;
using LoopOrder.Queues.Targets.Memory;
using LoopOrder.Queues.Targets.Nbd;
using LoopOrder.Queues.Targets.Rbd;

namespace LoopOrder.Queues.Targets;

/// <summary>Every target a device can be served from: one line each (README: "Adding a target").</summary>
public static class TargetRegistry
{
    /// <summary>The target a device without <c>--target</c> (and every record written before targets existed) is served from.</summary>
    public const string DefaultName = FileTarget.TargetName;

    /// <summary>The registered targets, in --help order.</summary>
    public static IReadOnlyList<ITarget> All { get; } =
    [
        new FileTarget(),
        new MemoryTarget(),
        new NbdTarget(),
        new RbdTarget(),
    ];

    /// <summary>The target called <paramref name="name"/> (case-insensitive), or null.</summary>
    /// <param name="name">A target name.</param>
    public static ITarget? Find(string? name) =>
        All.FirstOrDefault(t => string.Equals(t.Name, name, StringComparison.OrdinalIgnoreCase));

    /// <summary>The names, for messages: "file, memory".</summary>
    public static string Names => string.Join(", ", All.Select(t => t.Name));

    /// <summary>The target that declares option <paramref name="option"/>, or null.</summary>
    /// <param name="option">An option name without dashes.</param>
    public static ITarget? Owner(string option) =>
        All.FirstOrDefault(t => t.Options.Any(o => string.Equals(o.Name, option, StringComparison.OrdinalIgnoreCase)));
}
