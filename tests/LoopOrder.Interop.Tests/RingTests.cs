using LoopOrder.Interop.Uring;

namespace LoopOrder.Interop.Tests;

public unsafe class RingTests
{
    [Fact]
    public void Nop_round_trip_returns_user_data()
    {
        using var ring = new IoUring(8);
        Assert.True(ring.TryGetSqe(out io_uring_sqe* sqe));
        UringPrep.Nop(sqe, 0xDEADBEEF_12345678UL);
        Assert.Equal(1u, ring.SqPending);
        Assert.Equal(1, ring.SubmitAndWait(1));
        Assert.Equal(0u, ring.SqPending);
        Assert.True(ring.TryPeekCqe(out io_uring_cqe cqe));
        Assert.Equal(0xDEADBEEF_12345678UL, cqe.user_data);
        Assert.Equal(0, cqe.res);
        ring.AdvanceCq(1);
        Assert.False(ring.TryPeekCqe(out _));
        Assert.Equal(0u, ring.CqReady);
    }
}
