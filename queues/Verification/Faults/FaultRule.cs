namespace LoopOrder.Verification.Faults;

/// <summary>
/// One rule of a <see cref="FaultPlan"/>: fail requests of <see cref="Target"/> with
/// <see cref="Effect"/>, either the <see cref="AtRequest"/>th one only or each one with
/// probability <see cref="Percent"/> percent.
/// </summary>
/// <param name="Target">The kind of request the rule counts and fails.</param>
/// <param name="Effect">What it does to a request it hits.</param>
/// <param name="AtRequest">The 1-based ordinal of the one request to hit, or 0 for a rate rule.</param>
/// <param name="Percent">For a rate rule, the chance (0 &lt; P &lt;= 100) that each request is hit; 0 for an ordinal rule.</param>
public sealed record FaultRule(FaultTarget Target, FaultEffect Effect, long AtRequest, double Percent)
{
    /// <summary>The rule in the spec's syntax, e.g. <c>write:eio@3</c> or <c>read:eio%0.5</c>.</summary>
    public override string ToString() =>
        string.Create(System.Globalization.CultureInfo.InvariantCulture, $"{Target.ToString().ToLowerInvariant()}:{Effect.ToString().ToLowerInvariant()}{(AtRequest > 0 ? $"@{AtRequest}" : $"%{Percent}")}");
}
