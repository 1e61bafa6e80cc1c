using LoopOrder.Queues.Requests;

namespace LoopOrder.Queues.Backends;

/// <summary>
/// A backend whose reads and writes a transport may do itself, on its own ring, straight between
/// a request's registered pages and the backend's file (<see cref="IRegisteredData"/>): the file,
/// and the checks and result rules its own executors apply, so that a request means the same
/// whichever thread moved its bytes.
/// </summary>
public interface IRegisteredFile
{
    /// <summary>The open file the transfers read and write (borrowed: valid while the backend is).</summary>
    int TransferFd { get; }

    /// <summary>0 when <paramref name="request"/> may be started now; else the -errno to finish it with, no byte moved.</summary>
    int CheckTransfer(BlockRequest request);

    /// <summary>
    /// Takes one completion of a transfer step (<paramref name="result"/>: bytes or -errno) and
    /// returns true when the request is finished, with its final result in
    /// <paramref name="result"/>; false when the rest (from <see cref="BlockRequest.Progress"/>)
    /// must be sent again.
    /// </summary>
    bool TransferStepDone(BlockRequest request, ref int result);

    /// <summary>
    /// True when a read or write whose buffer is in memory is better moved by the transport's
    /// own ring (<see cref="RequestBuffer.TryGetTransport"/>) than by this backend's executors:
    /// when the I/O itself costs the submitting thread little (O_DIRECT: no page-cache copy), so
    /// the hand-over to a worker thread and back would cost more than the submit it saves.
    /// Registered pages always go to the transport, whatever this says.
    /// </summary>
    bool PrefersTransportTransfers { get; }
}
