using FsCheck;
using FsCheck.Fluent;
using LoopOrder.Queues.Requests;
using LoopOrder.Verification;

namespace LoopOrder.Verification.Tests;

public sealed class SectorHeaderTests
{
    [Fact]
    public void RoundTripNamesTheWrite()
    {
        var sector = new byte[BlockRequest.SectorSize];
        SectorHeader.Fill(sector, seed: 5, writeId: 42, sector: 9);
        Assert.Equal(new SectorValue(42, SectorStatus.Valid), SectorHeader.Decode(sector, 5, 9));
        Assert.Equal(SectorStatus.Misplaced, SectorHeader.Decode(sector, 5, 10).Status);
        Assert.Equal(SectorStatus.Foreign, SectorHeader.Decode(sector, 6, 9).Status);
        Assert.Equal(SectorValue.Zero, SectorHeader.Decode(new byte[BlockRequest.SectorSize], 5, 9));
    }

    [Fact]
    public void TornBetweenTwoWritesOfTheSameSectorFailsTheChecksum()
    {
        var a = new byte[BlockRequest.SectorSize];
        var b = new byte[BlockRequest.SectorSize];
        SectorHeader.Fill(a, 1, 1, 0);
        SectorHeader.Fill(b, 1, 2, 0);
        b.AsSpan(0, 256).CopyTo(a); // first half of write 2, second half of write 1
        Assert.Equal(SectorStatus.Torn, SectorHeader.Decode(a, 1, 0).Status);
    }

    [Fact]
    public void AnySingleByteChangeIsDetected()
    {
        Prop.ForAll(
            Arb.From(Gen.Choose(0, BlockRequest.SectorSize - 1)),
            Arb.From(Gen.Choose(1, 255)),
            (offset, flip) =>
            {
                var sector = new byte[BlockRequest.SectorSize];
                SectorHeader.Fill(sector, 3, 77, 12);
                sector[offset] ^= (byte)flip;
                return SectorHeader.Decode(sector, 3, 12).Status != SectorStatus.Valid;
            }).QuickCheckThrowOnFailure();
    }
}
