namespace LoopOrder.Queues.Targets.Nbd;

/// <summary>Tuning of one NBD connection; every default is stated and explained.</summary>
public sealed record NbdConnectionOptions
{
    /// <summary>
    /// Commands in flight at once on one connection; a submit beyond it waits for a reply.
    /// Default 128, ublk's default queue depth, so one connection can carry a full queue.
    /// </summary>
    public int MaxInFlight { get; init; } = 128;

    /// <summary>How long a TCP connect may take before the server counts as unreachable. Default 10 s.</summary>
    public TimeSpan ConnectTimeout { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>
    /// How long the server may take to answer each handshake step. Default 30 s: a server that
    /// accepts a connection and says nothing is a misconfiguration to report, not wait for.
    /// </summary>
    public TimeSpan HandshakeTimeout { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>
    /// Write payloads up to this size are copied behind their header and sent in one call; larger
    /// ones go in a second call straight from the caller's buffer. Default 16 KiB: copying that
    /// much costs about what the extra system call would.
    /// </summary>
    public int CoalesceLimit { get; init; } = 16 * 1024;

    /// <summary>
    /// Bytes the reply reader asks the socket for at once. Default 256 KiB: many small replies
    /// arrive in one call; read data larger than half of it is received straight into the caller's buffer.
    /// </summary>
    public int ReceiveBufferSize { get; init; } = 256 * 1024;

    /// <summary>How long a clean close waits for commands in flight before it drops the connection. Default 10 s.</summary>
    public TimeSpan CloseTimeout { get; init; } = TimeSpan.FromSeconds(10);

    internal void Validate()
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(MaxInFlight, 1);
        ArgumentOutOfRangeException.ThrowIfNegative(CoalesceLimit);
        ArgumentOutOfRangeException.ThrowIfLessThan(ReceiveBufferSize, 4096);
    }
}
