using LoopOrder.Interop;
using LoopOrder.Queues.Ordering;
using LoopOrder.Queues.Requests;
using LoopOrder.Queues.Verification;

namespace LoopOrder.Verification.Tests;

/// <summary>Hand-written traces, each aimed at one invariant: the checker passes the correct shape and names the events of the broken one.</summary>
public sealed class InvariantCheckerTests
{
    [Fact]
    public void CorrectWriteFlushReadTracePasses()
    {
        using var t = new TraceBuilder();
        long w = t.Write(0, 2, writeId: 1);
        t.Run(w);
        long f = t.Flush();
        t.Run(f);
        long r = t.Recv(BlockOp.Read, 0, 2);
        t.Start(r);
        t.EndRead(r, 1, 1);
        t.Ack(r);
        Assert.Empty(t.Check(OrderingMode.Strict));
    }

    [Fact]
    public void C1FlushWhoseSyncStartedBeforeAnAcknowledgedWriteLanded()
    {
        using var t = new TraceBuilder();
        long w = t.Write(0, 1, writeId: 1);
        long f0 = t.Flush();
        t.Start(f0); // a sync already running
        t.Start(w);
        t.End(w);
        t.Ack(w);
        long f = t.Flush(); // received after w was acknowledged
        t.End(f0);
        t.Ack(f0);
        t.Ack(f); // answered by the sync that started before w landed

        Violation c1 = Assert.Single(t.Check(), v => v.Invariant == Invariant.C1);
        Assert.Contains("#3 q0 Flush", c1.Message, StringComparison.Ordinal);
        Assert.Contains("#1 q0 Write [0+1] w1", c1.Message, StringComparison.Ordinal);
        Assert.Contains("started e3", c1.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void C2FuaWriteTheBackendWroteWithoutFuaAndNoSyncCovered()
    {
        using var t = new TraceBuilder();
        long w = t.Write(0, 1, writeId: 1, RequestFlags.Fua);
        t.StartWithFlags(w, RequestFlags.None);
        t.End(w);
        t.Ack(w);

        IReadOnlyList<Violation> found = t.Check();
        Violation c2 = Assert.Single(found, v => v.Invariant == Invariant.C2);
        Assert.Contains("without FUA", c2.Message, StringComparison.Ordinal);

        // The power-cut model sees the same hole: the zeros may survive a crash after the FUA ack.
        Assert.Contains(found, v => v.Invariant == Invariant.PowerCut);
    }

    [Fact]
    public void C2FuaWriteCoveredByASyncIsDurable()
    {
        using var t = new TraceBuilder();
        long w = t.Write(0, 1, writeId: 1, RequestFlags.Fua);
        t.StartWithFlags(w, RequestFlags.None);
        t.End(w);
        long f = t.Flush();
        t.Start(f);
        t.End(f);
        t.Ack(f);
        t.Ack(w); // acknowledged only after a sync that started after it landed

        Assert.DoesNotContain(t.Check(), v => v.Invariant == Invariant.C2);
    }

    [Fact]
    public void C3WriteAcknowledgedBeforeItLanded()
    {
        using var t = new TraceBuilder();
        long w = t.Write(4, 2, writeId: 1);
        t.Start(w);
        t.Ack(w);
        t.End(w);

        Violation c3 = Assert.Single(t.Check(), v => v.Invariant == Invariant.C3);
        Assert.Contains("acknowledged at e3 before its bytes landed (e4)", c3.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void C4ReadReturnsDataSupersededByAWriteAcknowledgedBeforeIt()
    {
        using var t = new TraceBuilder();
        long w1 = t.Write(0, 1, writeId: 1);
        t.Run(w1);
        long w2 = t.Write(0, 1, writeId: 2);
        t.Run(w2);
        long r = t.Recv(BlockOp.Read, 0, 1);
        t.Start(r);
        t.EndRead(r, 1);
        t.Ack(r);

        Violation c4 = Assert.Single(t.Check());
        Assert.Equal(Invariant.C4, c4.Invariant);
        Assert.Contains("returned w1", c4.Message, StringComparison.Ordinal);
        Assert.Contains("#2 q0 Write [0+1] w2", c4.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void C4ReadMayReturnEitherOfTwoConcurrentWrites()
    {
        using var t = new TraceBuilder();
        long w1 = t.Write(0, 1, writeId: 1);
        t.Run(w1);
        long r = t.Recv(BlockOp.Read, 0, 1);
        long w2 = t.Write(0, 1, writeId: 2); // received after the read: the read may or may not see it
        t.Start(w2);
        t.End(w2);
        t.Start(r);
        t.EndRead(r, 2);
        t.Ack(w2);
        t.Ack(r);

        Assert.Empty(t.Check());
    }

    [Theory]
    [InlineData(1, "torn")]
    [InlineData(2, "misplaced")]
    public void C4ReadReturnsATornOrMisplacedSector(int damage, string word)
    {
        using var t = new TraceBuilder();
        long w = t.Write(0, 2, writeId: 1);
        t.Run(w);
        long r = t.Recv(BlockOp.Read, 0, 2);
        t.Start(r);
        Span<byte> data = t.Buffer(r);
        SectorHeader.FillRange(data, TraceBuilder.Seed, 1, 0, 2);
        if (damage == 1)
        {
            data[700] ^= 1; // one bit of sector 1's payload
        }
        else
        {
            SectorHeader.Fill(data[BlockRequest.SectorSize..], TraceBuilder.Seed, 1, 0); // sector 0's data at sector 1
        }

        t.End(r);
        t.Ack(r);

        Violation c4 = Assert.Single(t.Check());
        Assert.Equal(Invariant.C4, c4.Invariant);
        Assert.Contains($"sector 1 is {word}", c4.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void C5FailedWriteAcknowledgedAsSuccess()
    {
        using var t = new TraceBuilder();
        long w = t.Write(0, 1, writeId: 1);
        t.Start(w);
        t.End(w, Errno.EIO.ToResult());
        t.Ack(w);

        Assert.Contains(t.Check(), v => v.Invariant == Invariant.C5 && v.Message.Contains("failed it with -5 at e3", StringComparison.Ordinal));
    }

    [Fact]
    public void C5FlushSucceedsAfterAFailedSync()
    {
        using var t = new TraceBuilder();
        long f1 = t.Flush();
        t.Start(f1);
        t.End(f1, Errno.EIO.ToResult());
        t.Ack(f1, Errno.EIO.ToResult());
        long f2 = t.Flush();
        t.Run(f2); // a retried fdatasync "succeeds" over lost data

        Violation c5 = Assert.Single(t.Check());
        Assert.Equal(Invariant.C5, c5.Invariant);
        Assert.Contains("after the failure of #1 q0 Flush", c5.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void C5FlushFailingAfterTheLatchPasses()
    {
        using var t = new TraceBuilder();
        long w = t.Write(0, 1, writeId: 1);
        t.Start(w);
        t.End(w, Errno.EIO.ToResult());
        t.Ack(w, Errno.EIO.ToResult());
        long f = t.Flush();
        t.Ack(f, Errno.EIO.ToResult());
        Assert.Empty(t.Check());
    }

    [Fact]
    public void D1SyncStartedBeforeAWriteReceivedEarlierLanded()
    {
        using var t = new TraceBuilder();
        long w = t.Write(0, 1, writeId: 1);
        long f = t.Flush();
        t.Start(w);
        t.Start(f);
        t.End(w);
        t.Ack(w);
        t.End(f);
        t.Ack(f);

        IReadOnlyList<Violation> found = t.Check(OrderingMode.None);
        Violation d1 = Assert.Single(found);
        Assert.Equal(Invariant.D1, d1.Invariant);
        Assert.Contains("started at e4, before #1 q0 Write [0+1] w1", d1.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void D2OnlyInStrict()
    {
        using var t = new TraceBuilder();
        long f = t.Flush();
        t.Start(f);
        long w = t.Write(0, 1, writeId: 1);
        t.Run(w); // lands while the flush is unacknowledged
        t.End(f);
        t.Ack(f);

        Violation d2 = Assert.Single(t.Check(OrderingMode.Strict));
        Assert.Equal(Invariant.D2, d2.Invariant);
        Assert.Contains("#2 q0 Write [0+1] w1", d2.Message, StringComparison.Ordinal);
        Assert.Empty(t.Check(OrderingMode.Drain));
    }

    [Fact]
    public void D3OverlappingWritesLandOutOfReceiveOrder()
    {
        using var t = new TraceBuilder();
        long w1 = t.Write(0, 2, writeId: 1);
        long w2 = t.Write(1, 2, writeId: 2);
        t.Start(w2);
        t.Start(w1);
        t.End(w1);
        t.End(w2);
        t.Ack(w1);
        t.Ack(w2);

        Violation d3 = Assert.Single(t.Check());
        Assert.Equal(Invariant.D3, d3.Invariant);
        Assert.Contains("#2 q0 Write [1+2] w2 (recv e2, land e3..e6", d3.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void D3ReadThatDoesNotWaitForAnEarlierOverlappingWrite()
    {
        using var t = new TraceBuilder();
        long w = t.Write(0, 2, writeId: 1);
        long r = t.Recv(BlockOp.Read, 1, 1);
        t.Start(w);
        t.Start(r);
        t.EndRead(r, 0); // the old data: a legal value, so only the ordering shows the broken promise
        t.End(w);
        t.Ack(r);
        t.Ack(w);

        Violation d3 = Assert.Single(t.Check());
        Assert.Equal(Invariant.D3, d3.Invariant);
        Assert.Contains("started reading at e4", d3.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void InvalidRequestThatReachesTheBackend()
    {
        using var t = new TraceBuilder();
        long d = t.Recv(BlockOp.Discard, TraceBuilder.Capacity - 1, 2);
        t.Run(d);
        Assert.Contains(t.Check(), v => v.Invariant == Invariant.Invalid);
    }

    [Fact]
    public void RequestNeverAcknowledged()
    {
        using var t = new TraceBuilder();
        long w = t.Write(0, 1, writeId: 1);
        t.Start(w);
        t.End(w);
        Violation v = Assert.Single(t.Check());
        Assert.Equal(Invariant.Liveness, v.Invariant);
        Assert.Contains("never acknowledged", v.Message, StringComparison.Ordinal);
    }
}
