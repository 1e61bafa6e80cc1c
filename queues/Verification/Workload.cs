using LoopOrder.Queues.Requests;

namespace LoopOrder.Verification;

/// <summary>One request a workload submits.</summary>
/// <param name="Queue">The virtual queue that submits it (submission order within a queue is list order).</param>
/// <param name="Op">The operation; an undefined value makes an invalid request.</param>
/// <param name="Flags">FUA / NOUNMAP.</param>
/// <param name="StartSector">First sector.</param>
/// <param name="SectorCount">Sectors (0 only for flushes and deliberately invalid requests).</param>
/// <param name="WriteId">For a write, the id its sector headers carry (unique in the workload); 0 otherwise.</param>
public readonly record struct WorkloadOp(int Queue, BlockOp Op, RequestFlags Flags, ulong StartSector, uint SectorCount, ulong WriteId)
{
    /// <summary>Bytes of buffer the op needs.</summary>
    public int BufferBytes => Op is BlockOp.Read or BlockOp.Write ? (int)SectorCount * BlockRequest.SectorSize : 0;

    /// <inheritdoc />
    public override string ToString()
    {
        string fua = Flags.HasFlag(RequestFlags.Fua) ? "+FUA" : "";
        string id = Op == BlockOp.Write ? $" w{WriteId}" : "";
        return Op == BlockOp.Flush ? $"q{Queue} Flush" : $"q{Queue} {Op}{fua} [{StartSector}+{SectorCount}]{id}";
    }
}

/// <summary>What a workload looks like: sizes and mix. The defaults overlap heavily in a small hot range.</summary>
public sealed record WorkloadShape
{
    /// <summary>Device size in sectors: 256 sectors (128 KiB), small so that 1–64-sector writes overlap often.</summary>
    public ulong CapacitySectors { get; init; } = 256;

    /// <summary>Fewest requests in a workload.</summary>
    public int MinOps { get; init; } = 12;

    /// <summary>Most requests in a workload: enough for several flush epochs, few enough to check fast.</summary>
    public int MaxOps { get; init; } = 48;

    /// <summary>Most virtual queues (at least 2, so that flushes and writes come from different queues).</summary>
    public int MaxQueues { get; init; } = 4;

    /// <summary>Largest in-flight window per queue.</summary>
    public int MaxWindow { get; init; } = 8;

    /// <summary>Largest write, discard or read: 64 sectors (32 KiB).</summary>
    public uint MaxSectors { get; init; } = 64;

    /// <summary>Chance that a completion the scheduler picks carries a fault, in a workload that injects faults (half of them do).</summary>
    public double FaultRate { get; init; } = 0.05;
}

/// <summary>A generated workload: the requests and the per-queue in-flight windows.</summary>
/// <param name="Ops">Requests in submission order per queue.</param>
/// <param name="Windows">In-flight window of each queue.</param>
/// <param name="SubmitBias">Chance the scheduler submits rather than completes when it may do both.</param>
/// <param name="FaultRate">Chance a completion carries a fault (0 in fault-free workloads).</param>
public sealed record Workload(IReadOnlyList<WorkloadOp> Ops, IReadOnlyList<int> Windows, double SubmitBias, double FaultRate);

/// <summary>
/// Makes seeded random workloads in the spirit of fsx: writes of 1–64 sectors (some FUA), reads,
/// flushes, discards and write-zeroes over a small hot range so that requests overlap, from
/// several virtual queues with in-flight windows, and now and then an invalid request.
/// </summary>
public static class WorkloadGenerator
{
    /// <summary>Percent of ops that are writes.</summary>
    private const int WritePercent = 46;

    /// <summary>Percent of ops that are reads.</summary>
    private const int ReadPercent = 20;

    /// <summary>Percent of ops that are flushes: enough for several epochs per workload.</summary>
    private const int FlushPercent = 16;

    /// <summary>Percent of ops that are discards.</summary>
    private const int DiscardPercent = 7;

    /// <summary>Percent of ops that are write-zeroes.</summary>
    private const int ZeroesPercent = 8;

    /// <summary>Percent of writes that carry FUA.</summary>
    private const int FuaPercent = 15;

    /// <summary>An op the kernel does not define (UBLK_IO_OP_WRITE_SAME is 4; 9 is nothing): must fail (EOPNOTSUPP).</summary>
    private const BlockOp UnknownOp = (BlockOp)9;

    /// <summary>Makes one workload from <paramref name="random"/>.</summary>
    public static Workload Generate(Random random, WorkloadShape shape)
    {
        ArgumentNullException.ThrowIfNull(random);
        ArgumentNullException.ThrowIfNull(shape);
        int queues = random.Next(2, Math.Max(2, shape.MaxQueues) + 1);
        var windows = new int[queues];
        for (int q = 0; q < queues; q++)
        {
            windows[q] = random.Next(1, shape.MaxWindow + 1);
        }

        // A hot range of a quarter to all of the device, so some workloads collide far more than others.
        ulong hot = (ulong)random.Next((int)Math.Max(8, shape.CapacitySectors / 4), (int)shape.CapacitySectors + 1);
        ulong hotStart = (ulong)random.Next(0, (int)(shape.CapacitySectors - hot) + 1);
        int count = random.Next(shape.MinOps, shape.MaxOps + 1);
        var ops = new WorkloadOp[count];
        ulong nextWriteId = 1;
        for (int i = 0; i < count; i++)
        {
            int queue = random.Next(queues);
            int roll = random.Next(100);
            (ulong start, uint sectors) = Extent(random, shape, hotStart, hot);
            if (roll < WritePercent)
            {
                RequestFlags flags = random.Next(100) < FuaPercent ? RequestFlags.Fua : RequestFlags.None;
                ops[i] = new WorkloadOp(queue, BlockOp.Write, flags, start, sectors, nextWriteId++);
            }
            else if ((roll -= WritePercent) < ReadPercent)
            {
                ops[i] = new WorkloadOp(queue, BlockOp.Read, RequestFlags.None, start, sectors, 0);
            }
            else if ((roll -= ReadPercent) < FlushPercent)
            {
                ops[i] = new WorkloadOp(queue, BlockOp.Flush, RequestFlags.None, 0, 0, 0);
            }
            else if ((roll -= FlushPercent) < DiscardPercent)
            {
                ops[i] = new WorkloadOp(queue, BlockOp.Discard, RequestFlags.None, start, sectors, 0);
            }
            else if ((roll -= DiscardPercent) < ZeroesPercent)
            {
                RequestFlags flags = random.Next(2) == 0 ? RequestFlags.NoUnmap : RequestFlags.None;
                ops[i] = new WorkloadOp(queue, BlockOp.WriteZeroes, flags, start, sectors, 0);
            }
            else
            {
                ops[i] = Invalid(random, shape, queue);
            }
        }

        double submitBias = 0.25 + (random.NextDouble() * 0.6);
        double faultRate = random.Next(2) == 0 ? 0 : shape.FaultRate;
        return new Workload(ops, windows, submitBias, faultRate);
    }

    private static (ulong Start, uint Sectors) Extent(Random random, WorkloadShape shape, ulong hotStart, ulong hot)
    {
        // Mostly small requests, a third up to the largest, clipped to the hot range.
        uint max = (uint)Math.Min(shape.MaxSectors, hot);
        uint sectors = random.Next(3) == 0 ? (uint)random.Next(1, (int)max + 1) : (uint)random.Next(1, (int)Math.Min(8u, max) + 1);
        ulong start = hotStart + (ulong)random.Next(0, (int)(hot - sectors) + 1);
        return (start, sectors);
    }

    private static WorkloadOp Invalid(Random random, WorkloadShape shape, int queue) => random.Next(3) switch
    {
        0 => new WorkloadOp(queue, BlockOp.Write, RequestFlags.None, 0, 0, 0),
        1 => new WorkloadOp(queue, BlockOp.Discard, RequestFlags.None, shape.CapacitySectors - 1, 2, 0),
        _ => new WorkloadOp(queue, UnknownOp, RequestFlags.None, 0, 1, 0),
    };
}
