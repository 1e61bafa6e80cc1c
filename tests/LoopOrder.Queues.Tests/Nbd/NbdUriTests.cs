using LoopOrder.Queues.Targets.Nbd;

namespace LoopOrder.Queues.Tests.Nbd;

public sealed class NbdUriTests
{
    [Theory]
    [InlineData("nbd://example.com/disk", "example.com", 10809, "disk")]
    [InlineData("nbd://example.com:10810/disk", "example.com", 10810, "disk")]
    [InlineData("nbd://example.com/", "example.com", 10809, "")]
    [InlineData("nbd://example.com", "example.com", 10809, "")]
    [InlineData("nbd://example.com//disk", "example.com", 10809, "/disk")]
    [InlineData("nbd://example.com/hello%20world", "example.com", 10809, "hello world")]
    [InlineData("nbd://127.0.0.1:2000/e", "127.0.0.1", 2000, "e")]
    [InlineData("nbd://[::1]:2000/e", "::1", 2000, "e")]
    [InlineData("nbd://[::1]/e?x-debug=1", "::1", 10809, "e")]
    [InlineData("NBD://h/%C3%A9", "h", 10809, "\u00e9")]
    public void Tcp_uris_parse_as_the_standard_says(string text, string host, int port, string export)
    {
        NbdUri u = NbdUri.Parse(text);
        Assert.False(u.IsUnix);
        Assert.Equal(host, u.Host);
        Assert.Equal(port, u.Port);
        Assert.Equal(export, u.ExportName);
        Assert.Null(u.SocketPath);
    }

    [Theory]
    [InlineData("nbd+unix:///disk?socket=sock", "sock", "disk")]
    [InlineData("nbd+unix:///?socket=/run/nbd.sock", "/run/nbd.sock", "")]
    [InlineData("nbd+unix://?socket=/a%20b", "/a b", "")]
    [InlineData("nbd+unix:///?socket=%00/abstract", "\0/abstract", "")]
    public void Unix_uris_parse_as_the_standard_says(string text, string socket, string export)
    {
        NbdUri u = NbdUri.Parse(text);
        Assert.True(u.IsUnix);
        Assert.Equal(socket, u.SocketPath);
        Assert.Equal(export, u.ExportName);
        Assert.Null(u.Host);
    }

    [Theory]
    [InlineData("", "expected")]
    [InlineData("/dev/nbd0", "expected")]
    [InlineData("http://h/x", "unknown scheme")]
    [InlineData("nbds://h/x", "TLS")]
    [InlineData("nbds+unix:///x?socket=s", "TLS")]
    [InlineData("nbd+unix:///x", "socket=PATH")]
    [InlineData("nbd+unix://host/x?socket=s", "no host")]
    [InlineData("nbd://h/x?socket=s", "nbd+unix")]
    [InlineData("nbd:///x", "needs a host")]
    [InlineData("nbd://h:0/x", "port")]
    [InlineData("nbd://h:70000/x", "port")]
    [InlineData("nbd://h:ab/x", "port")]
    [InlineData("nbd://::1/x", "brackets")]
    [InlineData("nbd://[::1/x", "unclosed")]
    [InlineData("nbd://user@h/x", "TLS")]
    [InlineData("nbd://h/x?tls-type=x509", "TLS")]
    [InlineData("nbd://h/x?color=blue", "unknown query parameter 'color'")]
    [InlineData("nbd://h/x%zz", "percent-encoding")]
    [InlineData("nbd://h/x%00y", "NUL")]
    [InlineData("nbd://h/x%ff", "UTF-8")]
    [InlineData("nbd://h/x#frag", "fragment")]
    [InlineData("nbd+unix:///x?socket=a&socket=b", "twice")]
    public void Bad_uris_are_refused_with_a_message_saying_why(string text, string why)
    {
        NbdException e = Assert.Throws<NbdException>(() => NbdUri.Parse(text));
        Assert.Equal(NbdFailure.InvalidUri, e.Failure);
        Assert.Contains(why, e.Message, StringComparison.Ordinal);
        Assert.DoesNotContain('\n', e.Message);
    }
}
