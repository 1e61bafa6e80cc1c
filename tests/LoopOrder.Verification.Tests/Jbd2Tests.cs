using LoopOrder.Queues.Ordering;
using LoopOrder.Verification;
using LoopOrder.Verification.Mutants;

namespace LoopOrder.Verification.Tests;

/// <summary>The ext4/jbd2-shaped vector and its recovery oracle.</summary>
public sealed class Jbd2Tests
{
    [Theory]
    [InlineData(OrderingMode.Drain)]
    [InlineData(OrderingMode.Strict)]
    [InlineData(OrderingMode.None)]
    public void AFilesystemThatWaitsRecoversInEveryMode(OrderingMode mode)
    {
        for (ulong seed = 1; seed <= 30; seed++)
        {
            Jbd2Result result = Jbd2Vector.Run(seed, mode);
            Assert.DoesNotContain(result.Violations, v => v.Invariant == Invariant.Recovery);
            Assert.True(result.ImagesChecked > 100);

            // Mode none shows its weakness on the home writes a later flush does not wait for, and nothing else.
            Assert.All(result.Violations, v => Assert.Equal(Invariant.D1, v.Invariant));
            Assert.True(mode == OrderingMode.None || result.Violations.Count == 0);
        }
    }

    [Fact]
    public void AFilesystemThatReliesOnTheFlushRecoversUnderDrainAndStrictOnly()
    {
        int noneFailures = 0;
        for (ulong seed = 1; seed <= 30; seed++)
        {
            Assert.Empty(Jbd2Vector.Run(seed, OrderingMode.Drain, waitBeforeFlush: false).Violations);
            Assert.Empty(Jbd2Vector.Run(seed, OrderingMode.Strict, waitBeforeFlush: false).Violations);
            noneFailures += Jbd2Vector.Run(seed, OrderingMode.None, waitBeforeFlush: false).Violations
                .Count(v => v.Invariant == Invariant.Recovery);
        }

        Assert.True(noneFailures > 0, "the loop driver's behaviour never lost a committed transaction");
    }

    [Fact]
    public void AcknowledgingJournalWritesBeforeTheyLandLosesACommittedTransaction()
    {
        Violation v = Enumerable.Range(1, 30)
            .SelectMany(s => Jbd2Vector.Run((ulong)s, OrderingMode.Drain, EngineMutant.AckBeforeLand).Violations)
            .First(x => x.Invariant == Invariant.Recovery);
        Assert.Contains("the last commit acknowledged", v.Message, StringComparison.Ordinal);
    }
}
