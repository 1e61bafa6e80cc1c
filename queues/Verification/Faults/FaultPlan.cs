using System.Globalization;

namespace LoopOrder.Verification.Faults;

/// <summary>
/// Which requests a <see cref="Backends.FaultInjectingBackend"/> fails, parsed from a spec: rules separated
/// by commas, and optionally <c>seed=N</c>.
/// <code>
/// spec    := item ("," item)*
/// item    := "seed=" N                  seed of the rate rules (0 to 2^64-1); default 0
///          | target ":" effect trigger
/// target  := "read" | "write" | "sync"  (sync: the fdatasync a flush runs)
/// effect  := "eio"                      any target
///          | "enospc" | "short"         writes only
/// trigger := "@" N                      the Nth request of the target kind (1-based), once
///          | "%" P                      each request of the kind with probability P percent, 0 &lt; P &lt;= 100
/// </code>
/// Examples: <c>write:eio@100</c>, <c>sync:eio@3</c>, <c>read:eio%0.01,seed=7</c>,
/// <c>write:enospc@50</c>, <c>write:short@7</c>. Requests are counted per kind in the order the
/// backend receives them; a request that two rules hit gets the first rule's fault. A rate rule's
/// verdict on the Nth request is a hash of (seed, rule, N), so the same seed and the same request
/// order give the same faults, with no shared random state between worker threads.
/// </summary>
public sealed class FaultPlan
{
    private const string Syntax = "write TARGET:EFFECT@N (the Nth request) or TARGET:EFFECT%P (P percent of requests), comma-separated, e.g. write:eio@3,sync:eio@1,read:eio%0.5,seed=7";

    private FaultPlan(IReadOnlyList<FaultRule> rules, ulong seed, string spec)
    {
        Rules = rules;
        Seed = seed;
        Spec = spec;
    }

    /// <summary>The rules, in the order given; the first that hits a request decides its fault.</summary>
    public IReadOnlyList<FaultRule> Rules { get; }

    /// <summary>The seed of the rate rules (default 0).</summary>
    public ulong Seed { get; }

    /// <summary>The spec as given.</summary>
    public string Spec { get; }

    /// <summary>Parses <paramref name="spec"/>.</summary>
    /// <param name="spec">The spec (grammar in the type's remarks).</param>
    /// <exception cref="FormatException">What is wrong with the spec, in words.</exception>
    public static FaultPlan Parse(string? spec) =>
        TryParse(spec, out FaultPlan? plan, out string? error) ? plan : throw new FormatException(error);

    /// <summary>Parses <paramref name="spec"/>; on failure <paramref name="error"/> says what is wrong.</summary>
    /// <param name="spec">The spec (grammar in the type's remarks).</param>
    /// <param name="plan">The plan, when the spec is good.</param>
    /// <param name="error">What is wrong, when it is not.</param>
    public static bool TryParse(string? spec, [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out FaultPlan? plan, [System.Diagnostics.CodeAnalysis.NotNullWhen(false)] out string? error)
    {
        plan = null;
        if (string.IsNullOrWhiteSpace(spec))
        {
            error = $"the spec is empty; {Syntax}.";
            return false;
        }

        var rules = new List<FaultRule>();
        ulong? seed = null;
        string[] items = spec.Split(',');
        for (int i = 0; i < items.Length; i++)
        {
            string item = items[i].Trim();
            string where = $"item {i + 1} '{item}'";
            if (item.Length == 0)
            {
                error = $"item {i + 1} is empty (two commas, or a comma at an end).";
                return false;
            }

            if (item.StartsWith("seed=", StringComparison.OrdinalIgnoreCase))
            {
                if (seed is not null)
                {
                    error = $"{where}: the seed is given twice.";
                    return false;
                }

                if (!ulong.TryParse(item.AsSpan(5), NumberStyles.None, CultureInfo.InvariantCulture, out ulong s))
                {
                    error = $"{where}: the seed must be a whole number from 0 to {ulong.MaxValue}.";
                    return false;
                }

                seed = s;
                continue;
            }

            if (ParseRule(item, where, out string? ruleError) is not { } rule)
            {
                error = ruleError ?? $"{where} is not a rule.";
                return false;
            }

            rules.Add(rule);
        }

        if (rules.Count == 0)
        {
            error = $"the spec has a seed but no rule; {Syntax}.";
            return false;
        }

        plan = new FaultPlan(rules, seed ?? 0, spec.Trim());
        error = null;
        return true;
    }

    /// <summary>
    /// The rule that hits the <paramref name="ordinal"/>th request of <paramref name="target"/>,
    /// or null when none does. Pure: the same arguments always give the same answer.
    /// </summary>
    /// <param name="target">The request's kind.</param>
    /// <param name="ordinal">Its 1-based ordinal among the backend's requests of that kind.</param>
    public FaultRule? Decide(FaultTarget target, long ordinal)
    {
        for (int i = 0; i < Rules.Count; i++)
        {
            FaultRule rule = Rules[i];
            if (rule.Target != target)
            {
                continue;
            }

            if (rule.AtRequest > 0 ? ordinal == rule.AtRequest : Unit(Seed, i, ordinal) * 100 < rule.Percent)
            {
                return rule;
            }
        }

        return null;
    }

    /// <inheritdoc />
    public override string ToString() => Spec;

    /// <summary>A uniform number in [0, 1) from (seed, rule, ordinal): SplitMix64's finaliser over their mix.</summary>
    internal static double Unit(ulong seed, int rule, long ordinal)
    {
        // Distinct odd multipliers keep (rule, ordinal) pairs from colliding before the finaliser.
        ulong z = seed + ((ulong)rule * 0xD1B54A32D192ED03UL) + ((ulong)ordinal * 0x9E3779B97F4A7C15UL);
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        z ^= z >> 31;

        // The top 53 bits: every double in [0, 1) on the 2^-53 grid, equally likely.
        return (z >> 11) * (1.0 / (1UL << 53));
    }

    private static FaultRule? ParseRule(string item, string where, out string? error)
    {
        int colon = item.IndexOf(':', StringComparison.Ordinal);
        if (colon < 0)
        {
            error = $"{where} is not a rule; {Syntax}.";
            return null;
        }

        string targetText = item[..colon].Trim();
        FaultTarget? target = targetText.ToLowerInvariant() switch
        {
            "read" => FaultTarget.Read,
            "write" => FaultTarget.Write,
            "sync" => FaultTarget.Sync,
            _ => null,
        };
        if (target is null)
        {
            error = $"{where}: '{targetText}' is not a request kind; give read, write or sync.";
            return null;
        }

        string rest = item[(colon + 1)..];
        int mark = rest.IndexOfAny(['@', '%']);
        string effectText = (mark < 0 ? rest : rest[..mark]).Trim();
        FaultEffect? effect = effectText.ToLowerInvariant() switch
        {
            "eio" => FaultEffect.Eio,
            "enospc" => FaultEffect.Enospc,
            "short" => FaultEffect.Short,
            _ => null,
        };
        if (effect is null)
        {
            error = $"{where}: '{effectText}' is not a fault; give eio, enospc or short.";
            return null;
        }

        if (effect is not FaultEffect.Eio && target is not FaultTarget.Write)
        {
            error = $"{where}: {effectText.ToLowerInvariant()} applies to writes only; a {targetText.ToLowerInvariant()} can only fail with eio.";
            return null;
        }

        string noun = target == FaultTarget.Sync ? "syncs" : targetText.ToLowerInvariant() + "s";
        if (mark < 0)
        {
            error = $"{where}: no trigger; add @N (the Nth of the {noun}) or %P (P percent of the {noun}).";
            return null;
        }

        string number = rest[(mark + 1)..].Trim();
        if (rest[mark] == '@')
        {
            if (!long.TryParse(number, NumberStyles.None, CultureInfo.InvariantCulture, out long n) || n < 1)
            {
                error = $"{where}: '@{number}' is not a request number; give @N with N a whole number of 1 or more (the Nth of the {noun}).";
                return null;
            }

            error = null;
            return new FaultRule(target.Value, effect.Value, n, 0);
        }

        if (!double.TryParse(number, NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out double p) || !(p > 0 && p <= 100))
        {
            error = $"{where}: '%{number}' is not a rate; give %P with P a percentage above 0 and at most 100 (e.g. %0.5).";
            return null;
        }

        error = null;
        return new FaultRule(target.Value, effect.Value, 0, p);
    }
}
