using LoopOrder.Queues.Requests;

namespace LoopOrder.Verification.Faults;

/// <summary>A fault <see cref="Backends.FaultInjectingBackend"/> injected, as reported to its observer (for the log).</summary>
/// <param name="Rule">The rule that hit.</param>
/// <param name="Fault">What it does to the request.</param>
/// <param name="Ordinal">The request's 1-based ordinal among the backend's requests of <see cref="FaultRule.Target"/>.</param>
/// <param name="Op">The request's operation.</param>
/// <param name="StartSector">The request's first sector.</param>
/// <param name="SectorCount">The request's sectors.</param>
public readonly record struct InjectedFault(FaultRule Rule, Fault Fault, long Ordinal, BlockOp Op, ulong StartSector, uint SectorCount)
{
    /// <summary>What the backend reports for the request: the fault's negative errno (a short write's prefix lands first).</summary>
    public int Reported => Fault.Result;
}
