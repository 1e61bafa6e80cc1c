namespace LoopOrder.Queues.Requests;

/// <summary>
/// Where a request's data lives, which decides who may move it: a backend's executor through an
/// address, or only the transport's ring (see <see cref="RequestBuffer"/>).
/// </summary>
public enum RequestBufferKind : byte
{
    /// <summary>No data: flush, discard, write-zeroes (and a request the engine fails untouched). The default.</summary>
    None = 0,

    /// <summary>Native memory in this process at <see cref="RequestBuffer.Address"/>, which the transport owns.</summary>
    Memory = 1,

    /// <summary>
    /// Pages the transport registered in its own io_uring (ublk zero copy): no address reaches
    /// them, so the transport moves them (<see cref="IRegisteredData"/>).
    /// </summary>
    Registered = 2,
}
