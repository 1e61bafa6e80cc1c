using LoopOrder.Queues.Backends;

namespace LoopOrder.Queues.Targets;

/// <summary>An opened target: the backend the engine serves, and how to undo the opening if adding the device fails later.</summary>
/// <param name="backend">The storage.</param>
/// <param name="abandon">Undoes what opening created (e.g. removes a file it created); called after the backend is disposed. Null when nothing needs undoing.</param>
public sealed class OpenedTarget(IBackend backend, Action? abandon = null)
{
    /// <summary>The storage the engine serves.</summary>
    public IBackend Backend { get; } = backend;

    /// <summary>Undoes what opening created, once the backend is disposed; adding the device failed and nothing must remain.</summary>
    public void Abandon() => abandon?.Invoke();
}
