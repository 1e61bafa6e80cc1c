using System.Globalization;
using LoopOrder.Interop.Uring;

namespace LoopOrder.Ublk.Queue;

/// <summary>How a queue ring runs the driver's task work (the hand-over of each request).</summary>
internal enum QueueTaskrun
{
    /// <summary>SINGLE_ISSUER | DEFER_TASKRUN: batched into the queue thread's own waits (6.1+).</summary>
    Defer,

    /// <summary>SINGLE_ISSUER | COOP_TASKRUN: run at the thread's next return from any system call (5.19+).</summary>
    Coop,

    /// <summary>Neither: the kernel interrupts the thread to run it (for experiments).</summary>
    None,
}

/// <summary>
/// Chooses the queue rings' task-work mode for the running kernel. DEFER_TASKRUN is the faster
/// mode, but tearing down such a ring while the driver still queues task work to it (a SIGKILLed
/// server with requests in flight) corrupts the ring's local work lists on kernels without
/// io_uring commit 17666e2d7592 ("io_uring/tw: serialize ctx->retry_llist with ->uring_lock",
/// 7.1, a fix of f46b9cdb22f7 which 6.12 stable carries): a guest oops (see README, Kernels).
/// COOP_TASKRUN rings never take that path. The fix brings no feature bit, so the kernel
/// release decides (<see cref="DeferTaskrunGate"/>, which every other ring's optional
/// DEFER_TASKRUN goes through too); a stable kernel that backported it keeps COOP_TASKRUN,
/// which is only slower.
/// </summary>
internal static class QueueRingSetup
{
    /// <summary>The environment variable that overrides the choice: defer, coop or none (experiments, A/B runs).</summary>
    internal const string OverrideVariable = DeferTaskrunGate.OverrideVariable;

    /// <summary>The first release with the fix, so the first where DEFER_TASKRUN is used.</summary>
    internal static readonly Version DeferSafeFrom = DeferTaskrunGate.SafeFrom;

    /// <summary>The mode for <paramref name="kernel"/>, unless <paramref name="requested"/> names one.</summary>
    /// <param name="kernel">The running kernel's release (Environment.OSVersion.Version on Linux).</param>
    /// <param name="requested">The override (<see cref="OverrideVariable"/>), or null/empty for the automatic choice.</param>
    /// <returns>The mode.</returns>
    /// <exception cref="ArgumentException"><paramref name="requested"/> is not defer, coop or none.</exception>
    internal static QueueTaskrun Choose(Version kernel, string? requested) =>
        requested switch
        {
            null or "" => kernel >= DeferSafeFrom ? QueueTaskrun.Defer : QueueTaskrun.Coop,
            "defer" => QueueTaskrun.Defer,
            "coop" => QueueTaskrun.Coop,
            "none" => QueueTaskrun.None,
            _ => throw new ArgumentException(
                string.Create(CultureInfo.InvariantCulture, $"{OverrideVariable}={requested}: expected defer, coop or none."),
                nameof(requested)),
        };

    /// <summary>The mode for this process: the running kernel and the environment.</summary>
    internal static QueueTaskrun ForThisKernel() =>
        Choose(Environment.OSVersion.Version, Environment.GetEnvironmentVariable(OverrideVariable));

    /// <summary>The setup flags to try first for <paramref name="mode"/>.</summary>
    /// <param name="mode">The mode.</param>
    /// <returns>The flags; None for <see cref="QueueTaskrun.None"/>.</returns>
    internal static IoUringSetupFlags Flags(QueueTaskrun mode) => mode switch
    {
        QueueTaskrun.Defer => IoUringSetupFlags.SingleIssuer | IoUringSetupFlags.DeferTaskrun,
        QueueTaskrun.Coop => IoUringSetupFlags.SingleIssuer | IoUringSetupFlags.CoopTaskrun,
        _ => IoUringSetupFlags.None,
    };
}
