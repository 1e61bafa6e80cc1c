using LoopOrder.Queues.Backends;

namespace LoopOrder.Queues.Targets.Memory;

/// <summary>
/// RAM (<c>--target memory --size 256M</c>), for demos and benchmarks of everything above the
/// storage: the bytes live in the daemon's memory (<see cref="MemoryBackend"/>, allocated zeroed
/// and lazily by the kernel), every op is done when it starts, and a flush has nothing to make
/// durable. The contents die with the daemon: a memory device is added without USER_RECOVERY,
/// so when its daemon is killed the kernel fails its I/O and removes the disk at once instead of
/// holding I/O for a restart that could only bring back zeros, and a restarted daemon deletes
/// what is left of it rather than reattaching it.
/// </summary>
public sealed class MemoryTarget : ITarget
{
    /// <summary>The target's name.</summary>
    public const string TargetName = "memory";

    /// <inheritdoc />
    public string Name => TargetName;

    /// <inheritdoc />
    public string Summary => "RAM of the size --size gives, zeroed; for demos and benchmarks; lost when the daemon stops or dies";

    /// <inheritdoc />
    public IReadOnlyList<TargetOption> Options { get; } = [];

    /// <inheritdoc />
    public TargetCapabilities Capabilities => TargetCapabilities.Discard | TargetCapabilities.ReadOnly | TargetCapabilities.SubmitterLane;

    /// <inheritdoc />
    public string? Problem(TargetRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        return request.Size is null ? "--size is required with --target memory: how much RAM the device holds (e.g. 256M)." : null;
    }

    /// <inheritdoc />
    public IReadOnlyDictionary<string, string> Normalise(IReadOnlyDictionary<string, string> values) =>
        new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);

    /// <inheritdoc />
    public string Describe(IReadOnlyDictionary<string, string> values) => TargetName;

    /// <inheritdoc />
    public bool SameStorage(IReadOnlyDictionary<string, string> a, IReadOnlyDictionary<string, string> b) => false;

    /// <inheritdoc />
    public string? InitialImage(TargetRequest request) => null;

    /// <inheritdoc />
    public OpenedTarget Open(TargetRequest request, TargetContext context)
    {
        ArgumentNullException.ThrowIfNull(request);
        if (request.Recovering)
        {
            throw new TargetException(TargetFailure.NoInput, "a memory device's contents died with the daemon that served it; it cannot be reattached.");
        }

        long size = request.Size ?? throw new TargetException(TargetFailure.Usage, "--size is required with --target memory.");
        try
        {
            return new OpenedTarget(new MemoryBackend(size, request.ReadOnly));
        }
        catch (OutOfMemoryException e)
        {
            throw new TargetException(TargetFailure.Unavailable, $"cannot allocate {size} bytes for a memory device; give a smaller --size.", e);
        }
    }
}
