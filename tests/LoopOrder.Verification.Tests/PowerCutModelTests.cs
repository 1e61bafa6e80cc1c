using LoopOrder.Queues.Ordering;
using LoopOrder.Queues.Requests;
using LoopOrder.Verification;
using LoopOrder.Verification.Mutants;

namespace LoopOrder.Verification.Tests;

/// <summary>The page-cache model's sets on small traces, the whole-image sampler, and the check that ties them to the contract.</summary>
public sealed class PowerCutModelTests
{
    [Fact]
    public void LandedButUnsyncedWriteMayOrMayNotSurvive()
    {
        using var t = new TraceBuilder();
        long w = t.Write(0, 1, writeId: 1);
        t.Run(w); // e2..e4
        PowerCutModel m = t.Model();
        Assert.Equal([0UL], m.PossibleValues(0, 1));
        Assert.Equal([0UL, 1UL], m.PossibleValues(0, 2)); // copying into the cache may already have happened
        Assert.Equal([0UL, 1UL], m.PossibleValues(0, 4));
    }

    [Fact]
    public void SyncStartedAfterTheLandMakesItTheOnlyValue()
    {
        using var t = new TraceBuilder();
        long w = t.Write(0, 1, writeId: 1);
        t.Run(w);
        long f = t.Flush();
        t.Start(f); // e6
        t.End(f); // e7
        t.Ack(f);
        PowerCutModel m = t.Model();
        Assert.Equal([0UL, 1UL], m.PossibleValues(0, 6));
        Assert.Equal([1UL], m.PossibleValues(0, 7));
        Assert.True(m.IsAllowed(0, 7, SectorValue.Zero)); // not yet acknowledged: the contract still allows the old value
        Assert.False(m.IsAllowed(0, 8, SectorValue.Zero)); // after the flush's ack it does not
        Assert.True(m.IsAllowed(0, 8, new SectorValue(1, SectorStatus.Valid)));
    }

    [Fact]
    public void SyncStartedBeforeTheLandCoversNothing()
    {
        using var t = new TraceBuilder();
        long w = t.Write(0, 1, writeId: 1);
        long f = t.Flush();
        t.Start(f); // e3
        t.Run(w); // e4..e6
        t.End(f); // e7
        t.Ack(f);
        PowerCutModel m = t.Model(OrderingMode.None);
        Assert.Equal([0UL, 1UL], m.PossibleValues(0, 8));
    }

    [Fact]
    public void FuaWriteOverwritesDurably()
    {
        using var t = new TraceBuilder();
        t.Run(t.Write(0, 2, writeId: 1)); // e2..e4
        long fua = t.Write(1, 1, writeId: 2, RequestFlags.Fua);
        t.Run(fua); // e6..e8
        PowerCutModel m = t.Model();
        Assert.Equal([0UL, 1UL], m.PossibleValues(0, 8));
        Assert.Equal([0UL, 1UL, 2UL], m.PossibleValues(1, 6));
        Assert.Equal([2UL], m.PossibleValues(1, 7));
    }

    [Fact]
    public void EarlyAcknowledgedWriteMadeDurableByAFlushBeforeItLandsIsCaught()
    {
        using var t = new TraceBuilder();
        long w1 = t.Write(0, 1, writeId: 1);
        t.Run(w1);
        long w2 = t.Write(0, 1, writeId: 2);
        t.Start(w2);
        t.Ack(w2); // acknowledged before landing
        long f = t.Flush();
        t.Run(f); // the sync cannot see w2's bytes
        t.End(w2);

        Violation v = Assert.Single(t.Check(), x => x.Invariant == Invariant.PowerCut);
        Assert.Contains("sector 0 holding #1 q0 Write [0+1] w1", v.Message, StringComparison.Ordinal);
        Assert.Contains("#2 q0 Write [0+1] w2", v.Message, StringComparison.Ordinal);
        Assert.Contains("flush #3", v.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void DrainIsHeldToItsStrongerFlushThanNone()
    {
        // A write received (not acknowledged) before a successful flush: LoopOrder's drain promise
        // covers it, the kernel's does not. The sync starts before it lands, as in mode none.
        using var t = new TraceBuilder();
        long w = t.Write(0, 1, writeId: 1);
        long f = t.Flush();
        t.Start(w);
        t.Start(f);
        t.End(f);
        t.Ack(f);
        t.End(w);
        t.Ack(w);
        Assert.Contains(t.Check(OrderingMode.Drain), v => v.Invariant == Invariant.PowerCut);
        Assert.DoesNotContain(t.Check(OrderingMode.None), v => v.Invariant == Invariant.PowerCut);
    }

    [Fact]
    public void CrashImagesWrittenAsFilesTraceBackToAllowedWrites()
    {
        WorkloadRun run = ControlledScheduler.Run(11, OrderingMode.Drain, EngineMutant.None, new WorkloadShape());
        Assert.Empty(run.Violations);
        var model = PowerCutModel.Build(run.Recorder, run.Mode, run.CapacitySectors);
        string dir = Path.Combine(Path.GetTempPath(), $"loop-order-images-{Environment.ProcessId}");
        try
        {
            IReadOnlyList<(string Path, long Clock)> images = CrashImageSampler.WriteImages(model, dir, "t", 16, new Random(3));
            Assert.Equal(16, images.Count);
            int traced = 0;
            foreach ((string path, long clock) in images)
            {
                byte[] image = File.ReadAllBytes(path);
                Assert.Equal((long)run.CapacitySectors * BlockRequest.SectorSize, image.Length);
                Assert.Empty(CrashImageSampler.Audit(image, model, clock));
                for (int s = 0; s < (int)run.CapacitySectors; s++)
                {
                    SectorValue v = SectorHeader.Decode(image.AsSpan(s * BlockRequest.SectorSize, BlockRequest.SectorSize), run.Seed, (ulong)s);
                    Assert.Contains(v.Status, new[] { SectorStatus.Valid, SectorStatus.Zero });
                    traced += v.Status == SectorStatus.Valid ? 1 : 0;
                }
            }

            Assert.True(traced > 0, "no image held any written sector");

            // A sector from a write that was superseded durably must be flagged.
            byte[] last = CrashImageSampler.Render(model.ExtremeImage(model.LastClock, newest: true), run.Seed);
            Assert.Empty(CrashImageSampler.Audit(last, model, model.LastClock));
            last[100] ^= 0xFF;
            Assert.Contains(CrashImageSampler.Audit(last, model, model.LastClock), b => b.Sector == 0);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    /// <summary>
    /// The model must contain every crash a real page cache could produce. Simulate one: the cache
    /// takes a write's data at land-end (as the controlled backend applies it), random sectors are
    /// written back at random boundaries, a sync writes everything back at its end, a FUA write its
    /// own sectors. At every boundary each sector of the simulated disk must be a possible value,
    /// and, in drain, an allowed one.
    /// </summary>
    [Theory]
    [InlineData(OrderingMode.Drain)]
    [InlineData(OrderingMode.Strict)]
    [InlineData(OrderingMode.None)]
    public void SimulatedPageCacheCrashesLieInTheModel(OrderingMode mode)
    {
        var shape = new WorkloadShape { FaultRate = 0 }; // failed writes may land a prefix the trace cannot see
        for (ulong seed = 100; seed < 160; seed++)
        {
            WorkloadRun run = ControlledScheduler.Run(seed, mode, EngineMutant.None, shape);
            var model = PowerCutModel.Build(run.Recorder, mode, run.CapacitySectors);
            var cache = new ulong[run.CapacitySectors];
            var disk = new ulong[run.CapacitySectors];
            var random = new Random((int)seed);
            foreach (TraceEvent e in run.Recorder.Events)
            {
                RequestRecord r = run.Recorder.Requests[(int)e.Sequence - 1];
                if (e.Kind == TraceEventKind.LandEnd && e.Result >= 0 && r.IsWriteClass)
                {
                    for (ulong s = r.StartSector; s < r.StartSector + r.SectorCount; s++)
                    {
                        cache[s] = r.Op == BlockOp.Write ? r.WriteId : 0;
                        if (e.Flags.HasFlag(RequestFlags.Fua))
                        {
                            disk[s] = cache[s];
                        }
                    }
                }

                if (e.Kind == TraceEventKind.SyncEnd && e.Result >= 0)
                {
                    cache.CopyTo(disk, 0);
                }

                for (int s = 0; s < disk.Length; s++)
                {
                    if (random.Next(8) == 0)
                    {
                        disk[s] = cache[s]; // background writeback
                    }

                    Assert.Contains(disk[s], model.PossibleValues((ulong)s, e.Clock));
                    Assert.True(model.IsAllowed((ulong)s, e.Clock, disk[s] == 0 ? SectorValue.Zero : new SectorValue(disk[s], SectorStatus.Valid)),
                        $"seed {seed} e{e.Clock} sector {s} holds w{disk[s]}");
                }
            }
        }
    }

    [Fact]
    public void Atomic_blocks_are_never_torn_between_writes_that_covered_them_alike()
    {
        using var t = new TraceBuilder();
        t.Run(t.Write(0, 16, writeId: 1)); // two 8-sector blocks, landed, never synced
        t.Run(t.Write(8, 8, writeId: 2)); // the second block again
        PowerCutModel m = t.Model();
        var random = new Random(11);
        bool tornPerSector = false;
        var seen = new HashSet<ulong>();
        for (int i = 0; i < 200; i++)
        {
            ulong[] image = m.SampleImage(m.LastClock, random, 8);
            Assert.Single(image[..8].Distinct());
            Assert.Single(image[8..16].Distinct());
            seen.Add(image[8]);
            tornPerSector |= m.SampleImage(m.LastClock, random).Take(8).Distinct().Count() > 1;
        }

        Assert.Equal([0UL, 1UL, 2UL], seen.Order()); // every possible value still shows up
        Assert.True(tornPerSector, "per sector, blocks tear");
    }
}
