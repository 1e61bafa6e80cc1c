using LoopOrder.Queues.Ordering;
using LoopOrder.Ublk.Control;

namespace LoopOrder.Service.Commands;

/// <summary>What <see cref="ServeCommand"/> was asked to do.</summary>
public sealed class ServeSettings
{
    /// <summary>The backing file; empty for a daemon that starts with no command-line device.</summary>
    public required string File { get; init; }

    /// <summary>The size as typed, or null for the whole file.</summary>
    public string? Size { get; init; }

    /// <summary>Hardware queues.</summary>
    public int Queues { get; init; } = 1;

    /// <summary>Tags per queue.</summary>
    public int Depth { get; init; } = 128;

    /// <summary>The flush promise.</summary>
    public OrderingMode Ordering { get; init; } = OrderingMode.Drain;

    /// <summary>O_DIRECT on the backing file.</summary>
    public bool DirectIo { get; init; }

    /// <summary>512 or 4096.</summary>
    public int LogicalBlockSize { get; init; } = 512;

    /// <summary>A read-only disk.</summary>
    public bool ReadOnly { get; init; }

    /// <summary>Every write through the socket workers (--channel-writes).</summary>
    public bool ChannelWrites { get; init; }

    /// <summary>Allows the test options (--testing).</summary>
    public bool Testing { get; init; }

    /// <summary>Test only: the fault-injection spec (--inject-faults), or null.</summary>
    public string? InjectFaults { get; init; }

    /// <summary>Test only: where to write the device's recorded trace when it stops (--record-trace). Default null.</summary>
    public string? RecordTrace { get; init; }

    /// <summary>Ignored: every device is added with USER_RECOVERY now. Kept so existing scripts still parse.</summary>
    public bool Recovery { get; init; }

    /// <summary>Debug logging.</summary>
    public bool Verbose { get; init; }

    /// <summary>The ublk control device (tests point it elsewhere).</summary>
    public string ControlPath { get; init; } = UblkControl.DefaultPath;
}
