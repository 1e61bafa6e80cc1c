namespace LoopOrder.Verification.Faults;

/// <summary>The kind of backend request a fault rule counts and fails.</summary>
public enum FaultTarget : byte
{
    /// <summary>A read (<see cref="Queues.Requests.BlockOp.Read"/>).</summary>
    Read,

    /// <summary>A write (<see cref="Queues.Requests.BlockOp.Write"/>, FUA or not). Discard and write-zeroes are not counted.</summary>
    Write,

    /// <summary>A sync: the backend's fdatasync for a flush (<see cref="Queues.Requests.BlockOp.Flush"/>).</summary>
    Sync,
}
