using LoopOrder.Queues.Backends;

namespace LoopOrder.Queues.Requests;

/// <summary>
/// Where a request's data lives when no address in this process reaches it: pages the transport
/// registered in its own io_uring (ublk zero copy, UBLK_F_AUTO_BUF_REG), which only an operation
/// on that ring can read or write. A request whose <see cref="BlockRequest.Buffer"/> is
/// <see cref="RequestBuffer.Registered"/> carries one instead of an address; its reads and writes
/// are moved by the transport, between those pages and a file, instead of by a backend's executor.
/// </summary>
public interface IRegisteredData
{
    /// <summary>
    /// Moves <paramref name="request"/>'s data (a READ or a WRITE, FUA honoured) between its pages
    /// and <paramref name="file"/>, then reports the result to <paramref name="completion"/> on
    /// the transport's own thread. Any thread; allocates nothing.
    /// </summary>
    /// <param name="request">A read or write whose <see cref="BlockRequest.Buffer"/> is registered with this.</param>
    /// <param name="file">The storage.</param>
    /// <param name="completion">Where the engine learns that it landed.</param>
    void StartTransfer(BlockRequest request, IRegisteredFile file, IBackendCompletion completion);
}
