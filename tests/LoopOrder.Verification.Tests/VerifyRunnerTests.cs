using LoopOrder.Queues.Ordering;
using LoopOrder.Verification;
using LoopOrder.Verification.Mutants;

namespace LoopOrder.Verification.Tests;

public sealed class VerifyRunnerTests
{
    [Fact]
    public void CleanRunEndsWithTheSummaryLineAndExitsZero()
    {
        using var output = new StringWriter();
        int rc = VerifyRunner.Run(new VerifyOptions { Mode = OrderingMode.Strict, Seed = 99, Iterations = 40 }, output);
        string[] lines = output.ToString().TrimEnd().Split('\n');
        Assert.Equal(0, rc);
        Assert.Equal("verify: 40 workloads, 0 violations, mode strict, seed 99", lines[^1]);
    }

    [Fact]
    public void ModeNoneFailsOnD1WithASeedAndAShrunkTrace()
    {
        using var output = new StringWriter();
        int rc = VerifyRunner.Run(new VerifyOptions { Mode = OrderingMode.None, Seed = 5, Iterations = 40 }, output);
        string text = output.ToString();
        Assert.Equal(1, rc);
        Assert.Matches(@"\nverify: 40 workloads, [1-9]\d* violations, mode none, seed 5\n$", text);
        Assert.Contains("reproduce: loop-order verify --mode none --seed ", text, StringComparison.Ordinal);
        Assert.Contains("shrunk (D1)", text, StringComparison.Ordinal);
        Assert.Contains("sync-start", text, StringComparison.Ordinal);
    }

    [Fact]
    public void AReportedWorkloadSeedReproducesWithOneIteration()
    {
        const ulong seed = 5;
        ulong workloadSeed = VerifyRunner.WorkloadSeed(seed, 7);
        WorkloadRun inCampaign = ControlledScheduler.Run(workloadSeed, OrderingMode.None, EngineMutant.None, new WorkloadShape());
        Assert.Equal(workloadSeed, VerifyRunner.WorkloadSeed(workloadSeed, 0));
        WorkloadRun alone = ControlledScheduler.Run(VerifyRunner.WorkloadSeed(workloadSeed, 0), OrderingMode.None, EngineMutant.None, new WorkloadShape());
        Assert.Equal(inCampaign.Recorder.Events, alone.Recorder.Events);
    }

    [Theory]
    [InlineData("ack-before-land", EngineMutant.AckBeforeLand)]
    [InlineData("flush-without-wait", EngineMutant.FlushWithoutWait)]
    [InlineData("IgnoreSyncError", EngineMutant.IgnoreSyncError)]
    [InlineData("strict-no-hold", EngineMutant.StrictNoHold)]
    [InlineData("reorder-overlap", EngineMutant.ReorderOverlap)]
    [InlineData("none", EngineMutant.None)]
    public void MutantNamesParse(string name, EngineMutant expected)
    {
        Assert.True(VerifyRunner.TryParseMutant(name, out EngineMutant m));
        Assert.Equal(expected, m);
        Assert.False(VerifyRunner.TryParseMutant("no-such-mutant", out _));
    }

    [Fact]
    public void CrashImagesGoToTheDirectory()
    {
        string dir = Path.Combine(Path.GetTempPath(), $"loop-order-verify-{Environment.ProcessId}");
        try
        {
            using var output = new StringWriter();
            VerifyRunner.Run(new VerifyOptions { Seed = 1, Iterations = 3, CrashImageDirectory = dir, CrashImagesPerWorkload = 2 }, output);
            Assert.Equal(6, Directory.GetFiles(dir, "*.img").Length);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }
}
