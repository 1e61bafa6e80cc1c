using LoopOrder.Interop;
using LoopOrder.Queues.Ordering;
using LoopOrder.Queues.Requests;

namespace LoopOrder.Queues.Tests.Ordering;

/// <summary>
/// What the Sequencer makes of a backend's count: a write that reports fewer bytes than it
/// carries is an EIO, latched like any failed write; a read's count passes through (the kernel
/// asks again for the rest).
/// </summary>
public sealed class BackendResultTests
{
    [Theory]
    [InlineData(OrderingMode.Drain, 2048)]
    [InlineData(OrderingMode.Strict, 512)]
    [InlineData(OrderingMode.None, 0)]
    public void A_short_write_is_acknowledged_as_EIO_and_fails_every_later_flush(OrderingMode mode, int landed)
    {
        using var h = new SequencerHarness(mode);
        BlockRequest w = h.Write(0, 0, 8, 0xAB);
        Assert.True(h.Backend.IsPending(w));

        // The backend says it wrote only part: report that instead of completing the whole write.
        h.Sequencer.Landed(w, landed);

        Assert.Equal(Errno.EIO.ToResult(), h.ResultOf(w));
        Assert.True(h.Sequencer.IsErrorLatched);
        BlockRequest f = h.Flush(0);
        if (h.PendingSync is { } sync)
        {
            h.Backend.Complete(sync);
        }

        Assert.Equal(Errno.EIO.ToResult(), h.ResultOf(f));
    }

    [Fact]
    public void A_full_write_and_a_short_read_keep_their_counts()
    {
        using var h = new SequencerHarness(OrderingMode.Drain);
        BlockRequest w = h.Write(0, 0, 8, 0xAB);
        h.Backend.Complete(w);
        BlockRequest r = h.Read(0, 0, 8);
        h.Sequencer.Landed(r, 1024);

        Assert.Equal(4096, h.ResultOf(w));
        Assert.Equal(1024, h.ResultOf(r));
        Assert.False(h.Sequencer.IsErrorLatched);
    }
}
