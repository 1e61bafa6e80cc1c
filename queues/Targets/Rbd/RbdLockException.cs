namespace LoopOrder.Queues.Targets.Rbd;

/// <summary>The image's exclusive lock could not be taken: another client holds it, or the image has no such lock.</summary>
public sealed class RbdLockException : Exception
{
    /// <summary>A refusal.</summary>
    /// <param name="held">True when another client holds the lock; false when the image lacks the feature.</param>
    /// <param name="message">What is wrong and what to do.</param>
    public RbdLockException(bool held, string message)
        : base(message) => Held = held;

    /// <summary>A refusal.</summary>
    public RbdLockException()
        : this(true, "the image is locked by another client")
    {
    }

    /// <summary>A refusal.</summary>
    /// <param name="message">What is wrong.</param>
    public RbdLockException(string message)
        : this(true, message)
    {
    }

    /// <summary>A refusal.</summary>
    /// <param name="message">What is wrong.</param>
    /// <param name="inner">The cause.</param>
    public RbdLockException(string message, Exception inner)
        : base(message, inner) => Held = true;

    /// <summary>True when another client holds the lock; false when the image lacks the exclusive-lock feature.</summary>
    public bool Held { get; }
}
