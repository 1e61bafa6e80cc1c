namespace LoopOrder.Queues.Targets;

/// <summary>Why a target cannot serve a device; the service turns each into its exit code.</summary>
public enum TargetFailure
{
    /// <summary>The options cannot work (e.g. a file smaller than one block): exit 64.</summary>
    Usage,

    /// <summary>The storage is missing or unusable: exit 66.</summary>
    NoInput,

    /// <summary>The machine lacks what the target needs (memory, a library, a server): exit 69.</summary>
    Unavailable,

    /// <summary>The storage is someone else's right now (an RBD image locked by another client): exit 75.</summary>
    InUse,

    /// <summary>The storage refused the credentials (a Ceph client's key): exit 77.</summary>
    NoPermission,
}

/// <summary>A target refused to open a device; the message says what is wrong and what to do.</summary>
public sealed class TargetException : Exception
{
    /// <summary>A refusal.</summary>
    /// <param name="failure">What kind.</param>
    /// <param name="message">What is wrong and what to do.</param>
    /// <param name="inner">The cause, if any.</param>
    public TargetException(TargetFailure failure, string message, Exception? inner = null)
        : base(message, inner) => Failure = failure;

    /// <summary>A usage refusal.</summary>
    public TargetException()
        : this(TargetFailure.Usage, "the target refused the device")
    {
    }

    /// <summary>A usage refusal.</summary>
    /// <param name="message">What is wrong and what to do.</param>
    public TargetException(string message)
        : this(TargetFailure.Usage, message)
    {
    }

    /// <summary>A usage refusal.</summary>
    /// <param name="message">What is wrong and what to do.</param>
    /// <param name="inner">The cause.</param>
    public TargetException(string message, Exception inner)
        : this(TargetFailure.Usage, message, inner)
    {
    }

    /// <summary>What kind of refusal.</summary>
    public TargetFailure Failure { get; }
}
