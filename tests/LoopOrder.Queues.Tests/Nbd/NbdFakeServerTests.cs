using System.Buffers.Binary;
using System.Net.Sockets;
using LoopOrder.Interop;
using LoopOrder.Queues.Targets.Nbd;

namespace LoopOrder.Queues.Tests.Nbd;

/// <summary>
/// Servers real ones will not imitate: no fixed newstyle, not NBD at all, silent, and scripted
/// transmission replies (chunks out of order, holes, error chunks, a forged cookie).
/// </summary>
public sealed class NbdFakeServerTests
{
    private const int Block = 4096;

    [Fact]
    public void A_server_without_fixed_newstyle_is_refused_by_name()
    {
        using var fake = new FakeServer(s => Send(s, Greeting(flags: 0)));
        NbdException e = Assert.Throws<NbdException>(() => NbdConnection.Open(fake.Uri));
        Assert.Equal(NbdFailure.NoFixedNewstyle, e.Failure);
        Assert.Contains("fixed newstyle", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_peer_that_is_not_nbd_is_refused_by_name()
    {
        using var fake = new FakeServer(s => Send(s, "SSH-2.0-OpenSSH_9.2p1 Debian\r\n"u8.ToArray()));
        NbdException e = Assert.Throws<NbdException>(() => NbdConnection.Open(fake.Uri));
        Assert.Equal(NbdFailure.NotNbd, e.Failure);
    }

    [Fact]
    public void A_silent_server_fails_the_handshake_instead_of_hanging()
    {
        using var fake = new FakeServer(s => s.Receive(new byte[1]));
        NbdException e = Assert.Throws<NbdException>(() => NbdConnection.Open(fake.Uri, new NbdConnectionOptions { HandshakeTimeout = TimeSpan.FromMilliseconds(200) }));
        Assert.Equal(NbdFailure.Protocol, e.Failure);
        Assert.Contains("did not answer in time", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Read_chunks_in_any_order_with_holes_are_reassembled_and_error_chunks_map_to_errno()
    {
        using var fake = new FakeServer(s =>
        {
            Handshake(s);

            // A 3-block read: last block first, a hole in the middle, then the first block, then NONE.
            (ulong cookie, ulong offset, _) = ReadRequest(s, NbdCommand.Read);
            Send(s, Data(cookie, 0, offset + (2 * Block), Fill(Block, 3)));
            Send(s, Chunk(cookie, 0, 2, [.. U64(offset + Block), .. U32(Block)]));
            Send(s, Data(cookie, 0, offset, Fill(Block, 1)));
            Send(s, Chunk(cookie, 1, 0, []));

            // A write answered with an ERROR chunk carrying NBD_ENOSPC and a message.
            (cookie, _, _) = ReadRequest(s, NbdCommand.Write);
            Send(s, Chunk(cookie, 1, 0x8001, [.. U32(28), .. U16(4), .. "full"u8]));

            // A flush answered by a simple reply with an error value the document does not define: EINVAL.
            (cookie, _, _) = ReadRequest(s, NbdCommand.Flush);
            Send(s, [.. U32(0x67446698), .. U32(999), .. U64(cookie)]);

            // A read, then a reply with a cookie that was never sent: the client must hang up.
            (cookie, _, _) = ReadRequest(s, NbdCommand.Read);
            Send(s, Chunk(cookie ^ 0x1_0000_0000, 1, 0, []));
            s.Receive(new byte[1]);
        });
        using NbdConnection c = NbdConnection.Open(fake.Uri);
        using var buffers = new NbdBuffers();
        nint r = buffers.Allocate(3 * Block);
        NbdBuffers.Fill(r, 3 * Block, 7);

        Assert.Equal(3 * Block, c.Run(NbdCommand.Read, 8 * Block, 3 * Block, r));
        Assert.True(NbdBuffers.Span(r, Block).SequenceEqual(Fill(Block, 1)));
        Assert.True(NbdBuffers.Span(r + Block, Block).IndexOfAnyExcept((byte)0) < 0);
        Assert.True(NbdBuffers.Span(r + (2 * Block), Block).SequenceEqual(Fill(Block, 3)));

        Assert.Equal(Errno.ENOSPC.ToResult(), c.Run(NbdCommand.Write, 0, Block, r));
        Assert.Equal(Errno.EINVAL.ToResult(), c.Run(NbdCommand.Flush, 0, 0, 0));
        Assert.Equal(Errno.EIO.ToResult(), c.Run(NbdCommand.Read, 0, Block, r));
        Assert.False(c.IsConnected);
    }

    [Fact]
    public void A_read_claimed_done_without_all_its_data_fails_with_EIO_never_success()
    {
        using var fake = new FakeServer(s =>
        {
            Handshake(s);
            (ulong cookie, ulong offset, _) = ReadRequest(s, NbdCommand.Read);
            Send(s, Data(cookie, 1, offset, Fill(Block, 1)));
            s.Receive(new byte[1]);
        });
        using NbdConnection c = NbdConnection.Open(fake.Uri);
        using var buffers = new NbdBuffers();
        Assert.Equal(Errno.EIO.ToResult(), c.Run(NbdCommand.Read, 0, 2 * Block, buffers.Allocate(2 * Block)));
    }

    private static byte[] Fill(int n, int seed)
    {
        byte[] b = new byte[n];
        for (int i = 0; i < n; i++)
        {
            b[i] = (byte)((i * 31) + (seed * 7) + 1);
        }

        return b;
    }

    private static byte[] Greeting(ushort flags) => [.. U64(0x4e42444d41474943), .. U64(0x49484156454F5054), .. U16(flags)];

    /// <summary>Fixed newstyle; structured replies acknowledged; GO answered with a 1 MiB export that takes flush and FUA.</summary>
    private static void Handshake(Socket s)
    {
        Send(s, Greeting(1));
        Receive(s, 4);
        for (int i = 0; i < 2; i++)
        {
            byte[] head = Receive(s, 16);
            uint option = BinaryPrimitives.ReadUInt32BigEndian(head.AsSpan(8));
            Receive(s, (int)BinaryPrimitives.ReadUInt32BigEndian(head.AsSpan(12)));
            if (option == 7)
            {
                Send(s, [.. U64(0x3e889045565a9), .. U32(7), .. U32(3), .. U32(12), .. U16(0), .. U64(1 << 20), .. U16(1 | 4 | 8)]);
            }

            Send(s, [.. U64(0x3e889045565a9), .. U32(option), .. U32(1), .. U32(0)]);
        }
    }

    private static (ulong Cookie, ulong Offset, uint Length) ReadRequest(Socket s, NbdCommand expected)
    {
        byte[] r = Receive(s, 28);
        Assert.Equal(0x25609513u, BinaryPrimitives.ReadUInt32BigEndian(r));
        Assert.Equal((ushort)expected, BinaryPrimitives.ReadUInt16BigEndian(r.AsSpan(6)));
        uint length = BinaryPrimitives.ReadUInt32BigEndian(r.AsSpan(24));
        if (expected == NbdCommand.Write)
        {
            Receive(s, (int)length);
        }

        return (BinaryPrimitives.ReadUInt64BigEndian(r.AsSpan(8)), BinaryPrimitives.ReadUInt64BigEndian(r.AsSpan(16)), length);
    }

    private static byte[] Data(ulong cookie, ushort flags, ulong offset, byte[] data) => Chunk(cookie, flags, 1, [.. U64(offset), .. data]);

    private static byte[] Chunk(ulong cookie, ushort flags, ushort type, byte[] payload) =>
        [.. U32(0x668e33ef), .. U16(flags), .. U16(type), .. U64(cookie), .. U32((uint)payload.Length), .. payload];

    private static byte[] U16(ushort v)
    {
        byte[] b = new byte[2];
        BinaryPrimitives.WriteUInt16BigEndian(b, v);
        return b;
    }

    private static byte[] U32(uint v)
    {
        byte[] b = new byte[4];
        BinaryPrimitives.WriteUInt32BigEndian(b, v);
        return b;
    }

    private static byte[] U64(ulong v)
    {
        byte[] b = new byte[8];
        BinaryPrimitives.WriteUInt64BigEndian(b, v);
        return b;
    }

    private static void Send(Socket s, byte[] data) => s.Send(data);

    private static byte[] Receive(Socket s, int n)
    {
        byte[] b = new byte[n];
        int got = 0;
        while (got < n)
        {
            int k = s.Receive(b.AsSpan(got));
            if (k == 0)
            {
                throw new EndOfStreamException();
            }

            got += k;
        }

        return b;
    }

    /// <summary>Accepts one connection on a Unix socket and runs a script on it.</summary>
    private sealed class FakeServer : IDisposable
    {
        private readonly string _dir = NbdTestServer.NewDir();
        private readonly Socket _listener = new(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        private readonly Thread _thread;

        public FakeServer(Action<Socket> script)
        {
            string path = Path.Combine(_dir, "fake.sock");
            _listener.Bind(new UnixDomainSocketEndPoint(path));
            _listener.Listen(1);
            Uri = NbdUri.Parse("nbd+unix:///?socket=" + path);
            _thread = new Thread(() =>
            {
                try
                {
                    using Socket s = _listener.Accept();
                    script(s);
                }
                catch (Exception e) when (e is SocketException or EndOfStreamException or ObjectDisposedException)
                {
                    // The client hung up; that is what some scripts test.
                }
            }) { IsBackground = true };
            _thread.Start();
        }

        public NbdUri Uri { get; }

        public void Dispose()
        {
            _listener.Dispose();
            _thread.Join(TimeSpan.FromSeconds(10));
            Directory.Delete(_dir, recursive: true);
        }
    }
}
