using LoopOrder.Queues.Requests;

namespace LoopOrder.Queues.Backends;

/// <summary>A fault <see cref="FaultInjectingBackend"/> injected, as reported to its observer (for the log).</summary>
/// <param name="Rule">The rule that hit.</param>
/// <param name="Ordinal">The request's 1-based ordinal among the backend's requests of <see cref="FaultRule.Target"/>.</param>
/// <param name="Op">The request's operation.</param>
/// <param name="StartSector">The request's first sector.</param>
/// <param name="SectorCount">The request's sectors.</param>
/// <param name="Reported">What the backend reports for it: a negative errno, or for a short write the bytes of the prefix it lands.</param>
public readonly record struct InjectedFault(FaultRule Rule, long Ordinal, BlockOp Op, ulong StartSector, uint SectorCount, int Reported);
