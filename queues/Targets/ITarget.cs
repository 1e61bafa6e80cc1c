namespace LoopOrder.Queues.Targets;

/// <summary>
/// What a device serves: a file, memory, later an NBD export or an RBD image. A target is one
/// folder under queues/Targets and one line in <see cref="TargetRegistry"/>: it declares its own
/// options, checks them, says what it can do, and opens the <see cref="Backends.IBackend"/> the
/// engine serves. Everything common to every device (size, queues, depth, ordering, block size,
/// read-only, the test options) is the service's, which binds the options once for the command
/// line, appsettings.json, the control socket and the records.
/// </summary>
/// <remarks>
/// A target keeps no state between calls: the same instance answers for every device of its kind,
/// on the daemon's control thread. What a restarted daemon needs to reattach a device (its
/// recovery record) is the target's name and its option values, as <see cref="Normalise"/>
/// returned them; a target that cannot be reattached leaves out <see cref="TargetCapabilities.Persistent"/>.
/// </remarks>
public interface ITarget
{
    /// <summary>The name <c>--target</c> takes and records carry, lower case; never changes once released.</summary>
    string Name { get; }

    /// <summary>One sentence for --help: what the device serves.</summary>
    string Summary { get; }

    /// <summary>The target's own options (e.g. the file target's --file); each says its default.</summary>
    IReadOnlyList<TargetOption> Options { get; }

    /// <summary>What the target can do; the service and the engine act on these.</summary>
    TargetCapabilities Capabilities { get; }

    /// <summary>
    /// The first problem with <paramref name="request"/>, phrased for the command line (naming the
    /// option, e.g. "--file is required ..."), or null. Called before anything is created; may
    /// look at the filesystem but changes nothing. The common options are checked already.
    /// </summary>
    /// <param name="request">The device, its values as the user gave them.</param>
    string? Problem(TargetRequest request);

    /// <summary>
    /// The values to record and to open, made independent of the daemon's working directory and
    /// environment (e.g. the file as an absolute path). Called once, when a device is added.
    /// </summary>
    /// <param name="values">The target's option values, valid by <see cref="Problem"/>.</param>
    IReadOnlyDictionary<string, string> Normalise(IReadOnlyDictionary<string, string> values);

    /// <summary>What a device of this target serves, for logs and <c>loop-order list</c>: a file's path, "memory".</summary>
    /// <param name="values">The target's option values, normalised.</param>
    string Describe(IReadOnlyDictionary<string, string> values);

    /// <summary>
    /// True when devices <paramref name="a"/> and <paramref name="b"/> (both of this target) would
    /// serve the same storage, which one daemon refuses (the file target compares paths and inodes).
    /// </summary>
    /// <param name="a">One device's normalised values.</param>
    /// <param name="b">The other's.</param>
    bool SameStorage(IReadOnlyDictionary<string, string> a, IReadOnlyDictionary<string, string> b);

    /// <summary>
    /// Test only (--record-trace): a file holding the device's contents before it starts, copied
    /// as the trace's initial image before the backend opens; null when the device starts as zeros.
    /// </summary>
    /// <param name="request">The device.</param>
    string? InitialImage(TargetRequest request);

    /// <summary>
    /// Opens the storage and returns the backend the engine serves. Fails with a
    /// <see cref="TargetException"/> (or the interop layer's ErrnoException, whose message names
    /// what and why) leaving nothing behind; once it returned, <see cref="OpenedTarget.Abandon"/>
    /// undoes what it created if a later step of adding the device fails.
    /// </summary>
    /// <param name="request">The device, valid by <see cref="Problem"/> and normalised.</param>
    /// <param name="context">Where to log, and what the device is called.</param>
    OpenedTarget Open(TargetRequest request, TargetContext context);
}
