using LoopOrder.Interop;
using LoopOrder.Queues.Targets.Nbd;
using Xunit.Abstractions;

namespace LoopOrder.Queues.Tests.Nbd;

/// <summary>The client against real servers the tests start: nbdkit memory, nbdkit file, qemu-nbd on a raw file.</summary>
public sealed class NbdServerTests(ITestOutputHelper output)
{
    private const long Size = 64L << 20;
    private const int Block = 4096;

    public static TheoryData<string> Servers => ["nbdkit-memory", "nbdkit-file", "qemu-nbd"];

    internal static NbdTestServer Start(string kind)
    {
        switch (kind)
        {
            case "nbdkit-memory":
                return NbdTestServer.Nbdkit("memory", "size=" + Size);
            case "nbdkit-file":
                string dir = NbdTestServer.NewDir();
                string file = Path.Combine(dir, "disk.raw");
                using (var f = new FileStream(file, FileMode.CreateNew))
                {
                    f.SetLength(Size);
                }

                return NbdTestServer.NbdkitIn(dir, "file", "file=" + file);
            case "qemu-nbd":
                return NbdTestServer.QemuNbd(Size);
            default:
                throw new ArgumentOutOfRangeException(nameof(kind));
        }
    }

    [Theory]
    [MemberData(nameof(Servers))]
    public void Handshake_reports_the_exports_size_and_flags(string kind)
    {
        using NbdTestServer server = Start(kind);
        using NbdConnection c = NbdConnection.Open(server.Uri());
        NbdExportInfo e = c.Export;
        output.WriteLine($"{server.Description}: size {e.Size}, flags {e.Flags} (0x{(ushort)e.Flags:x}), block sizes {e.MinimumBlockSize}/{e.PreferredBlockSize}/{e.MaximumPayload} stated={e.BlockSizeStated}, structured={e.StructuredReplies}, go={e.UsedGo}");

        Assert.Equal(Size, e.Size);
        Assert.True(e.UsedGo);
        Assert.True(e.StructuredReplies);
        Assert.True((e.Flags & NbdTransmissionFlags.HasFlags) != 0);
        Assert.False(e.IsReadOnly);
        Assert.True(e.CanFlush);
        Assert.True(e.CanFua);
        Assert.True(e.CanTrim);
        Assert.True(e.CanWriteZeroes);

        // Measured with nbdkit 1.32 and qemu-nbd 7.2: all three say a flush on one connection
        // covers all (qemu-nbd only when started with --shared above 1, as here; see below).
        Assert.True(e.CanMultiConn);
    }

    [Fact]
    public void Qemu_nbd_advertises_multi_conn_only_when_it_takes_several_clients()
    {
        using NbdTestServer server = NbdTestServer.QemuNbd(Size, shared: 1);
        using NbdConnection c = NbdConnection.Open(server.Uri());
        output.WriteLine($"qemu-nbd --shared 1: flags {c.Export.Flags}");
        Assert.False(c.Export.CanMultiConn);
    }

    [Theory]
    [MemberData(nameof(Servers))]
    public void Reads_return_what_writes_wrote_and_zeroes_and_trims_succeed(string kind)
    {
        using NbdTestServer server = Start(kind);
        using NbdConnection c = NbdConnection.Open(server.Uri());
        using var buffers = new NbdBuffers();
        nint w = buffers.Allocate(64 * 1024);
        nint r = buffers.Allocate(64 * 1024);

        // A small write (coalesced behind its header) and a large one (sent from the caller's buffer).
        NbdBuffers.Fill(w, 64 * 1024, 1);
        Assert.Equal(Block, c.Run(NbdCommand.Write, 0, Block, w));
        Assert.Equal(64 * 1024, c.Run(NbdCommand.Write, 1 << 20, 64 * 1024, w));
        Assert.Equal(Block, c.Run(NbdCommand.Read, 0, Block, r));
        Assert.True(NbdBuffers.Span(r, Block).SequenceEqual(NbdBuffers.Span(w, Block)));
        Assert.Equal(64 * 1024, c.Run(NbdCommand.Read, 1 << 20, 64 * 1024, r));
        Assert.True(NbdBuffers.Span(r, 64 * 1024).SequenceEqual(NbdBuffers.Span(w, 64 * 1024)));

        // FUA write, then flush.
        NbdBuffers.Fill(w, Block, 2);
        Assert.Equal(Block, c.Run(NbdCommand.Write, 8 * Block, Block, w, NbdCommandFlags.Fua));
        Assert.Equal(0, c.Run(NbdCommand.Flush, 0, 0, 0));
        Assert.Equal(Block, c.Run(NbdCommand.Read, 8 * Block, Block, r));
        Assert.True(NbdBuffers.Span(r, Block).SequenceEqual(NbdBuffers.Span(w, Block)));

        // Write-zeroes, with and without NO_HOLE, reads back zeroes (a hole chunk or zero data).
        Assert.Equal(0, c.Run(NbdCommand.WriteZeroes, 0, Block, 0));
        Assert.Equal(0, c.Run(NbdCommand.WriteZeroes, (1 << 20) + Block, Block, 0, NbdCommandFlags.NoHole | NbdCommandFlags.Fua));
        NbdBuffers.Fill(r, 64 * 1024, 9);
        Assert.Equal(64 * 1024, c.Run(NbdCommand.Read, 1 << 20, 64 * 1024, r));
        NbdBuffers.Fill(w, 64 * 1024, 1);
        Assert.True(NbdBuffers.Span(r, Block).SequenceEqual(NbdBuffers.Span(w, Block)));
        Assert.True(NbdBuffers.Span(r + Block, Block).IndexOfAnyExcept((byte)0) < 0);
        Assert.True(NbdBuffers.Span(r + (2 * Block), 64 * 1024 - (2 * Block)).SequenceEqual(NbdBuffers.Span(w + (2 * Block), 64 * 1024 - (2 * Block))));
        Assert.Equal(Block, c.Run(NbdCommand.Read, 0, Block, r));
        Assert.True(NbdBuffers.Span(r, Block).IndexOfAnyExcept((byte)0) < 0);

        // Trim: what it leaves is unspecified, only the success is checked.
        Assert.Equal(0, c.Run(NbdCommand.Trim, 16 * Block, 4 * Block, 0));

        // A never-written region reads as zeroes (nbdkit answers with hole chunks).
        NbdBuffers.Fill(r, Block, 3);
        Assert.Equal(Block, c.Run(NbdCommand.Read, Size - Block, Block, r));
        Assert.True(NbdBuffers.Span(r, Block).IndexOfAnyExcept((byte)0) < 0);
    }

    [Theory]
    [MemberData(nameof(Servers))]
    public void Many_requests_in_flight_complete_with_their_own_data(string kind)
    {
        const int Count = 200;
        using NbdTestServer server = Start(kind);
        using NbdConnection c = NbdConnection.Open(server.Uri(), new NbdConnectionOptions { MaxInFlight = 64 });
        using var buffers = new NbdBuffers();
        var writes = new nint[Count];
        var reads = new nint[Count];
        var outcomes = new Outcome[Count];
        for (int i = 0; i < Count; i++)
        {
            writes[i] = buffers.Allocate(Block);
            reads[i] = buffers.Allocate(Block);
            NbdBuffers.Fill(writes[i], Block, i);
            outcomes[i] = new Outcome();
        }

        // More than MaxInFlight at once: submits beyond it wait for slots, none is lost.
        for (int i = 0; i < Count; i++)
        {
            c.Submit(NbdCommand.Write, NbdCommandFlags.None, (long)i * Block * 3, Block, writes[i], outcomes[i], null);
        }

        Assert.All(outcomes, o => Assert.Equal(Block, o.Wait()));
        for (int i = 0; i < Count; i++)
        {
            c.Submit(NbdCommand.Read, NbdCommandFlags.None, (long)i * Block * 3, Block, reads[i], outcomes[i], null);
        }

        for (int i = 0; i < Count; i++)
        {
            Assert.Equal(Block, outcomes[i].Wait());
            Assert.True(NbdBuffers.Span(reads[i], Block).SequenceEqual(NbdBuffers.Span(writes[i], Block)), "read " + i);
            Assert.Equal(1 * 2, outcomes[i].Calls);
        }

        Assert.Equal(0, c.InFlight);
    }

    [Theory]
    [MemberData(nameof(Servers))]
    public void Requests_the_export_cannot_take_are_refused_without_sending(string kind)
    {
        using NbdTestServer server = Start(kind);
        using NbdConnection c = NbdConnection.Open(server.Uri());
        using var buffers = new NbdBuffers();
        nint b = buffers.Allocate(Block);
        long sent = c.CommandsSent;

        Assert.Equal(Errno.EINVAL.ToResult(), c.Run(NbdCommand.Read, Size, Block, b));
        Assert.Equal(Errno.EINVAL.ToResult(), c.Run(NbdCommand.Write, Size - Block, 2 * Block, b));
        Assert.Equal(Errno.EINVAL.ToResult(), c.Run(NbdCommand.Read, 0, 0, b));
        Assert.Equal(Errno.EINVAL.ToResult(), c.Run(NbdCommand.Read, -Block, Block, b));
        Assert.Equal(Errno.EINVAL.ToResult(), c.Run(NbdCommand.Read, 0, Block, b, NbdCommandFlags.Fua));
        Assert.Equal(Errno.EINVAL.ToResult(), c.Run(NbdCommand.Write, 0, Block, b, NbdCommandFlags.NoHole));
        Assert.Equal(Errno.EINVAL.ToResult(), c.Run(NbdCommand.Flush, 0, Block, 0));
        Assert.Equal(sent, c.CommandsSent);
        Assert.True(c.IsConnected);
    }

    [Fact]
    public void A_refused_export_name_is_a_typed_error_naming_the_reason()
    {
        using NbdTestServer server = NbdTestServer.QemuNbd(Size, "disk");
        using (NbdConnection ok = NbdConnection.Open(server.Uri("disk")))
        {
            Assert.Equal(Size, ok.Export.Size);
        }

        NbdException e = Assert.Throws<NbdException>(() => NbdConnection.Open(server.Uri("nope")));
        output.WriteLine(e.Message);
        Assert.Equal(NbdFailure.ExportRefused, e.Failure);
        Assert.Equal(0x8000_0006u, e.OptionReply);
        Assert.Contains("NBD_REP_ERR_UNKNOWN", e.Message, StringComparison.Ordinal);
        Assert.Contains("'nope'", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Nbdkit_refuses_an_unknown_name_under_the_strict_exportname_filter()
    {
        using NbdTestServer server = NbdTestServer.Nbdkit("--filter=exportname", "memory", "size=1M", "exportname=disk", "exportname-strict=true");
        NbdException e = Assert.Throws<NbdException>(() => NbdConnection.Open(server.Uri("other")));
        output.WriteLine(e.Message);
        Assert.Equal(NbdFailure.ExportRefused, e.Failure);
    }

    [Fact]
    public void A_socket_nobody_listens_on_is_unreachable()
    {
        string dir = NbdTestServer.NewDir();
        try
        {
            string missing = Path.Combine(dir, "none.sock");
            NbdException e = Assert.Throws<NbdException>(() => NbdConnection.Open(NbdUri.Parse("nbd+unix:///?socket=" + missing)));
            output.WriteLine(e.Message);
            Assert.Equal(NbdFailure.Unreachable, e.Failure);
            Assert.Contains(missing, e.Message, StringComparison.Ordinal);

            // A socket file nobody listens on (bound, never listening; .NET unlinks it on dispose): connection refused.
            string stale = Path.Combine(dir, "stale.sock");
            using var s = new System.Net.Sockets.Socket(System.Net.Sockets.AddressFamily.Unix, System.Net.Sockets.SocketType.Stream, System.Net.Sockets.ProtocolType.Unspecified);
            s.Bind(new System.Net.Sockets.UnixDomainSocketEndPoint(stale));
            e = Assert.Throws<NbdException>(() => NbdConnection.Open(NbdUri.Parse("nbd+unix:///?socket=" + stale)));
            output.WriteLine(e.Message);
            Assert.Equal(NbdFailure.Unreachable, e.Failure);
            Assert.Contains("refused", e.Message, StringComparison.Ordinal);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public void A_tcp_port_nobody_listens_on_is_unreachable()
    {
        // Bind a port, learn its number, and close it: nothing listens there afterwards.
        int port;
        using (var l = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0))
        {
            l.Start();
            port = ((System.Net.IPEndPoint)l.LocalEndpoint).Port;
            l.Stop();
        }

        NbdException e = Assert.Throws<NbdException>(() => NbdConnection.Open(NbdUri.Parse($"nbd://127.0.0.1:{port}/x")));
        output.WriteLine(e.Message);
        Assert.Equal(NbdFailure.Unreachable, e.Failure);
        Assert.Contains("refused", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Tcp_on_loopback_works_like_a_unix_socket()
    {
        int port;
        using (var l = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0))
        {
            l.Start();
            port = ((System.Net.IPEndPoint)l.LocalEndpoint).Port;
            l.Stop();
        }

        using NbdTestServer server = NbdTestServer.NbdkitTcp(port, "memory", "size=1M");
        using NbdConnection c = NbdConnection.Open(NbdUri.Parse($"nbd://127.0.0.1:{port}/"));
        using var buffers = new NbdBuffers();
        nint b = buffers.Allocate(Block);
        NbdBuffers.Fill(b, Block, 5);
        Assert.Equal(Block, c.Run(NbdCommand.Write, 0, Block, b));
        nint r = buffers.Allocate(Block);
        Assert.Equal(Block, c.Run(NbdCommand.Read, 0, Block, r));
        Assert.True(NbdBuffers.Span(r, Block).SequenceEqual(NbdBuffers.Span(b, Block)));
    }

    [Fact]
    public void An_oldstyle_server_is_named_as_such()
    {
        using NbdTestServer server = NbdTestServer.Nbdkit("--oldstyle", "memory", "size=1M");
        NbdException e = Assert.Throws<NbdException>(() => NbdConnection.Open(server.Uri()));
        output.WriteLine(e.Message);
        Assert.Equal(NbdFailure.NotNbd, e.Failure);
        Assert.Contains("oldstyle", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_server_killed_mid_flight_fails_every_request_in_flight_with_EIO()
    {
        // The delay filter holds every read and write for 30 s, so all are in flight at the kill.
        using NbdTestServer server = NbdTestServer.Nbdkit("--filter=delay", "memory", "size=1M", "rdelay=30", "wdelay=30");
        using NbdConnection c = NbdConnection.Open(server.Uri());
        using var buffers = new NbdBuffers();
        var outcomes = new Outcome[16];
        for (int i = 0; i < outcomes.Length; i++)
        {
            outcomes[i] = new Outcome();
            c.Submit(i % 2 == 0 ? NbdCommand.Read : NbdCommand.Write, NbdCommandFlags.None, (long)i * Block, Block, buffers.Allocate(Block), outcomes[i], null);
        }

        // Submit returns after the request is on the wire; none can have been answered yet.
        Assert.All(outcomes, o => Assert.False(o.IsDone));
        server.Kill();

        Assert.All(outcomes, o => Assert.Equal(Errno.EIO.ToResult(), o.Wait()));
        Assert.False(c.IsConnected);
        Assert.Equal(0, c.InFlight);

        // Later requests fail at once, never silently succeed.
        Assert.Equal(Errno.EIO.ToResult(), c.Run(NbdCommand.Write, 0, Block, buffers.Allocate(Block)));
        Assert.Equal(Errno.EIO.ToResult(), c.Run(NbdCommand.Flush, 0, 0, 0));
    }

    [Fact]
    public void Fua_on_a_server_without_it_is_the_write_then_a_flush_of_that_connection()
    {
        using NbdTestServer server = NbdTestServer.Nbdkit("--filter=fua", "memory", "size=1M");
        using NbdConnection c = NbdConnection.Open(server.Uri());
        output.WriteLine($"{server.Description}: flags {c.Export.Flags}");
        Assert.False(c.Export.CanFua);
        Assert.True(c.Export.CanFlush);
        using var buffers = new NbdBuffers();
        nint b = buffers.Allocate(Block);
        NbdBuffers.Fill(b, Block, 4);

        Assert.Equal(Block, c.Run(NbdCommand.Write, 0, Block, b, NbdCommandFlags.Fua));
        Assert.Equal(1, c.FlushesSent);
        Assert.Equal(2, c.CommandsSent);
        Assert.Equal(Block, c.Run(NbdCommand.Write, Block, Block, b));
        Assert.Equal(1, c.FlushesSent);
        Assert.Equal(0, c.Run(NbdCommand.WriteZeroes, 0, Block, 0, NbdCommandFlags.Fua));
        Assert.Equal(2, c.FlushesSent);
        nint r = buffers.Allocate(Block);
        Assert.Equal(Block, c.Run(NbdCommand.Read, Block, Block, r));
        Assert.True(NbdBuffers.Span(r, Block).SequenceEqual(NbdBuffers.Span(b, Block)));
    }

    [Fact]
    public void A_read_only_export_refuses_writes_with_EROFS()
    {
        using NbdTestServer server = NbdTestServer.Nbdkit("--readonly", "memory", "size=1M");
        using NbdConnection c = NbdConnection.Open(server.Uri());
        Assert.True(c.Export.IsReadOnly);
        using var buffers = new NbdBuffers();
        nint b = buffers.Allocate(Block);
        Assert.Equal(Errno.EROFS.ToResult(), c.Run(NbdCommand.Write, 0, Block, b));
        Assert.Equal(Block, c.Run(NbdCommand.Read, 0, Block, b));
    }
}
