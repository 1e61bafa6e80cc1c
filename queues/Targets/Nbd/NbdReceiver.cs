using System.Net.Sockets;

namespace LoopOrder.Queues.Targets.Nbd;

/// <summary>
/// The reply stream of one connection, read through a buffer so that many small replies cost one
/// system call; large read data bypasses the buffer into the caller's memory. Reader thread only.
/// </summary>
internal sealed class NbdReceiver
{
    private readonly Socket _socket;
    private readonly byte[] _buffer;
    private int _start;
    private int _end;

    public NbdReceiver(Socket socket, int capacity)
    {
        _socket = socket;
        _buffer = new byte[capacity];
    }

    /// <summary>Fills <paramref name="destination"/> from the stream; false when the server closed it first.</summary>
    public bool Read(Span<byte> destination)
    {
        int buffered = Math.Min(_end - _start, destination.Length);
        _buffer.AsSpan(_start, buffered).CopyTo(destination);
        _start += buffered;
        destination = destination[buffered..];
        if (destination.IsEmpty)
        {
            return true;
        }

        // The buffer is empty now. Big payloads go straight to their destination (no copy).
        if (destination.Length >= _buffer.Length / 2)
        {
            return NbdSocket.ReceiveAll(_socket, destination);
        }

        while (!destination.IsEmpty)
        {
            if (!Refill())
            {
                return false;
            }

            int n = Math.Min(_end - _start, destination.Length);
            _buffer.AsSpan(_start, n).CopyTo(destination);
            _start += n;
            destination = destination[n..];
        }

        return true;
    }

    /// <summary>Reads and drops <paramref name="count"/> bytes; false when the server closed the stream first.</summary>
    public bool Skip(long count)
    {
        while (count > 0)
        {
            if (_start == _end && !Refill())
            {
                return false;
            }

            int n = (int)Math.Min(_end - _start, count);
            _start += n;
            count -= n;
        }

        return true;
    }

    /// <summary>Receives whatever the socket has (at least one byte) into the empty buffer.</summary>
    private bool Refill()
    {
        _start = 0;
        _end = _socket.Receive(_buffer, SocketFlags.None);
        return _end > 0;
    }
}
