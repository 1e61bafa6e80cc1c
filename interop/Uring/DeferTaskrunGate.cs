namespace LoopOrder.Interop.Uring;

/// <summary>
/// Whether rings may use DEFER_TASKRUN on the running kernel. Tearing down a DEFER_TASKRUN ring
/// whose thread dies with task work queued (a SIGKILLed server with I/O in flight) races with
/// that work on kernels without io_uring commit 17666e2d7592 ("io_uring/tw: serialize
/// ctx->retry_llist with ->uring_lock", 7.1; a fix of f46b9cdb22f7, which 6.12 stable carries):
/// the guest oopses (README, Kernels). COOP_TASKRUN rings never take that path. The fix brings no
/// feature bit, so the release decides; a stable kernel that backported it gets COOP_TASKRUN,
/// which is only slower. <see cref="IoUring.CreateWithFallback(uint, IoUringSetupFlags, IoUringSetupFlags, IoUringSetupFlags, uint)"/>
/// applies it to every optional DEFER_TASKRUN.
/// </summary>
public static class DeferTaskrunGate
{
    /// <summary>The environment variable that overrides the choice: defer (DEFER_TASKRUN on any kernel), coop or none.</summary>
    public const string OverrideVariable = "LOOPORDER_TASKRUN";

    /// <summary>The first release with the fix.</summary>
    public static readonly Version SafeFrom = new(7, 1);

    /// <summary>True when DEFER_TASKRUN may be used on <paramref name="kernel"/> given the override <paramref name="requested"/>.</summary>
    /// <param name="kernel">The kernel release.</param>
    /// <param name="requested">The override's value, or null.</param>
    /// <returns>True for "defer", false for any other value, the release check without one.</returns>
    public static bool Allows(Version kernel, string? requested) =>
        string.IsNullOrEmpty(requested) ? kernel >= SafeFrom : requested == "defer";

    /// <summary>True on the running kernel with this process's environment.</summary>
    public static bool AllowedHere =>
        Allows(Environment.OSVersion.Version, Environment.GetEnvironmentVariable(OverrideVariable));

    /// <summary><paramref name="optional"/>, with DEFER_TASKRUN replaced by COOP_TASKRUN unless <paramref name="allowed"/>.</summary>
    /// <param name="optional">Optional setup flags.</param>
    /// <param name="allowed">Whether DEFER_TASKRUN may stay.</param>
    /// <returns>The flags to ask for.</returns>
    public static IoUringSetupFlags Apply(IoUringSetupFlags optional, bool allowed) =>
        allowed || (optional & IoUringSetupFlags.DeferTaskrun) == 0
            ? optional
            : (optional & ~IoUringSetupFlags.DeferTaskrun) | IoUringSetupFlags.CoopTaskrun;
}
