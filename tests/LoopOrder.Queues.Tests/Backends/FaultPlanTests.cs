using LoopOrder.Verification.Faults;

namespace LoopOrder.Queues.Tests.Backends;

/// <summary>The --inject-faults spec: what parses to what, what is refused with which words, and how a plan decides.</summary>
public sealed class FaultPlanTests
{
    [Theory]
    [InlineData("write:eio@100", "write:eio@100", 0UL)]
    [InlineData("sync:eio@3", "sync:eio@3", 0UL)]
    [InlineData("read:eio%0.01", "read:eio%0.01", 0UL)]
    [InlineData("write:enospc@50", "write:enospc@50", 0UL)]
    [InlineData("write:short@7", "write:short@7", 0UL)]
    [InlineData("write:eio@3, sync:eio@1 ,read:eio%100,seed=42", "write:eio@3 sync:eio@1 read:eio%100", 42UL)]
    [InlineData("seed=18446744073709551615,WRITE:EIO@1", "write:eio@1", ulong.MaxValue)]
    [InlineData("write:short%12.5", "write:short%12.5", 0UL)]
    public void Good_specs_parse_to_their_rules_in_order(string spec, string rules, ulong seed)
    {
        Assert.True(FaultPlan.TryParse(spec, out FaultPlan? plan, out string? error), error);
        Assert.Equal(rules, string.Join(' ', plan.Rules));
        Assert.Equal(seed, plan.Seed);
        Assert.Equal(spec.Trim(), plan.Spec);
    }

    [Theory]
    [InlineData(null, "the spec is empty")]
    [InlineData("  ", "the spec is empty")]
    [InlineData("write:eio@1,,sync:eio@1", "item 2 is empty")]
    [InlineData("write:eio@1,", "item 2 is empty")]
    [InlineData("writeeio@1", "item 1 'writeeio@1' is not a rule")]
    [InlineData("disk:eio@1", "'disk' is not a request kind; give read, write or sync")]
    [InlineData("write:eoi@3", "item 1 'write:eoi@3': 'eoi' is not a fault; give eio, enospc or short")]
    [InlineData("read:short@1", "short applies to writes only")]
    [InlineData("sync:enospc@1", "enospc applies to writes only")]
    [InlineData("write:eio", "no trigger; add @N (the Nth of the writes) or %P")]
    [InlineData("write:eio@0", "'@0' is not a request number")]
    [InlineData("write:eio@-2", "'@-2' is not a request number")]
    [InlineData("write:eio@x", "'@x' is not a request number")]
    [InlineData("write:eio@3@4", "'@3@4' is not a request number")]
    [InlineData("read:eio%0", "'%0' is not a rate")]
    [InlineData("read:eio%101", "'%101' is not a rate")]
    [InlineData("read:eio%", "'%' is not a rate")]
    [InlineData("read:eio%1e-3", "'%1e-3' is not a rate")]
    [InlineData("seed=7", "a seed but no rule")]
    [InlineData("seed=1,seed=2,write:eio@1", "item 2 'seed=2': the seed is given twice")]
    [InlineData("seed=-1,write:eio@1", "the seed must be a whole number")]
    public void Bad_specs_are_refused_with_what_is_wrong(string? spec, string message)
    {
        Assert.False(FaultPlan.TryParse(spec, out FaultPlan? plan, out string? error));
        Assert.Null(plan);
        Assert.Contains(message, error, StringComparison.Ordinal);
        FormatException e = Assert.Throws<FormatException>(() => FaultPlan.Parse(spec));
        Assert.Equal(error, e.Message);
    }

    [Fact]
    public void An_ordinal_rule_hits_that_request_of_its_kind_only()
    {
        FaultPlan plan = FaultPlan.Parse("write:eio@3");
        Assert.Equal([3L], Enumerable.Range(1, 10).Where(n => plan.Decide(FaultTarget.Write, n) is not null).Select(n => (long)n));
        Assert.Null(plan.Decide(FaultTarget.Read, 3));
        Assert.Null(plan.Decide(FaultTarget.Sync, 3));
    }

    [Fact]
    public void The_first_rule_that_hits_decides()
    {
        FaultPlan plan = FaultPlan.Parse("write:enospc@2,write:eio%100");
        Assert.Equal(FaultEffect.Eio, plan.Decide(FaultTarget.Write, 1)!.Effect);
        Assert.Equal(FaultEffect.Enospc, plan.Decide(FaultTarget.Write, 2)!.Effect);
        Assert.Equal(FaultEffect.Eio, plan.Decide(FaultTarget.Write, 3)!.Effect);
    }

    [Fact]
    public void A_rate_rule_is_reproducible_from_its_seed_and_close_to_its_rate()
    {
        const int N = 100_000;
        long[] Hits(string spec)
        {
            FaultPlan p = FaultPlan.Parse(spec);
            return [.. Enumerable.Range(1, N).Where(n => p.Decide(FaultTarget.Read, n) is not null).Select(n => (long)n)];
        }

        long[] a = Hits("read:eio%2,seed=11");
        Assert.Equal(a, Hits("read:eio%2,seed=11"));
        Assert.NotEqual(a, Hits("read:eio%2,seed=12"));

        // 2% of 100000 is 2000; the binomial standard deviation is 44, so this range is ±11σ:
        // only a broken hash (or a misread percentage) lands outside it.
        Assert.InRange(a.Length, 1500, 2500);
        Assert.Equal(N, Hits("read:eio%100").Length);
        Assert.Empty(Hits("write:eio%100"));
    }
}
