using System.CommandLine;
using LoopOrder.Queues.Ordering;
using LoopOrder.Queues.Targets;
using LoopOrder.Service.Configuration;
using LoopOrder.Ublk.Device;

namespace LoopOrder.Service.Commands;

/// <summary>
/// The device options <c>add</c> and <c>serve</c> share, read into one <see cref="DeviceOptions"/>;
/// each says its default in --help. The target options come from the registered targets
/// (<see cref="TargetRegistry"/>): a new target's options appear here without editing this file.
/// </summary>
internal sealed class DeviceOptionSet
{
    public DeviceOptionSet()
    {
        var seen = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        var options = new List<(TargetOption, Option<string?>)>();
        foreach (ITarget target in TargetRegistry.All)
        {
            foreach (TargetOption o in target.Options)
            {
                if (seen.Add(o.Name))
                {
                    options.Add((o, new Option<string?>("--" + o.Name, o.Aliases) { Description = $"[{target.Name}] {o.Description}" }));
                }
            }
        }

        TargetSpecific = options;
    }

    public Option<string> Target { get; } = new("--target")
    {
        Description = "What the device serves: " + string.Join("; ", TargetRegistry.All.Select(t => $"{t.Name} = {t.Summary}")) + $". Default: {TargetRegistry.DefaultName}.",
        DefaultValueFactory = _ => TargetRegistry.DefaultName,
    };

    /// <summary>Each registered target's own options (--file, ...), once each.</summary>
    public IReadOnlyList<(TargetOption Spec, Option<string?> Option)> TargetSpecific { get; }

    public Option<string?> Size { get; } = new("--size", "-s") { Description = "Device size, e.g. 4G, 512M, 1048576 (binary units). Default: a file's whole size (required to create one, and for --target memory)." };

    public Option<int> Queues { get; } = new("--queues", "-q") { Description = $"Hardware queues, one thread each, 1 to {DeviceOptions.MaxQueues} (the kernel caps it at the CPU count).", DefaultValueFactory = _ => 1 };

    public Option<int> Depth { get; } = new("--depth", "-d") { Description = "Requests in flight per queue, 1 to 4096.", DefaultValueFactory = _ => UblkDeviceOptions.DefaultQueueDepth };

    public Option<OrderingMode> Ordering { get; } = new("--ordering") { Description = "What a flush promises: drain (every write received before it is in the file first), strict (drain, and later writes wait for it), none (like the loop driver).", DefaultValueFactory = _ => OrderingMode.Drain };

    public Option<bool> DirectIo { get; } = new("--direct-io") { Description = "Bypass the target's cache (a file: O_DIRECT, no page cache); targets without one refuse it. Default: off (buffered).", DefaultValueFactory = _ => false };

    public Option<int> BlockSize { get; } = new("--block-size", "--logical-block-size") { Description = "Logical block size: 512 or 4096.", DefaultValueFactory = _ => 512 };

    public Option<bool> ReadOnly { get; } = new("--read-only") { Description = "A read-only disk; a file is opened read-only. Default: off.", DefaultValueFactory = _ => false };

    public Option<bool> ChannelWrites { get; } = new("--channel-writes") { Description = "Send every write through the socket workers. Default: off (a buffered write that can start at once is written by the queue thread that received it; same promise, fewer thread hops).", DefaultValueFactory = _ => false };

    public Option<RecoveryIo> RecoveryIo { get; } = new("--recovery-io") { Description = "What I/O does while no daemon serves the device (after a crash, until the next daemon recovers it): wait, or fail at once with an I/O error (EREMOTEIO; needs Linux 6.13+: UBLK_F_USER_RECOVERY_FAIL_IO).", DefaultValueFactory = _ => Configuration.RecoveryIo.Wait };

    public Option<bool> Partitions { get; } = new("--partitions") { Description = "Let the host scan the device for partitions (/dev/ublkbNpM). Default: off where the kernel offers UBLK_F_NO_AUTO_PART_SCAN (older kernels always scan).", DefaultValueFactory = _ => false };

    public Option<bool> TrackChanges { get; } = new("--track-changes") { Description = "Changed-block tracking (file target): record which regions change between snapshots, for 'loop-order changes'; the metadata is FILE.cbt next to the backing file. Default: off.", DefaultValueFactory = _ => false };

    public Option<string?> TrackGranularity { get; } = new("--track-granularity") { Description = "With --track-changes: bytes one tracked region stands for, a power of two from 4K to 1G. Default: 64K." };

    /// <summary>Gates the test options; hidden from --help (README: testing).</summary>
    public Option<bool> Testing { get; } = new("--testing") { Description = "TEST ONLY: allows the test options (--inject-faults, --record-trace). Default: off.", DefaultValueFactory = _ => false, Hidden = true };

    /// <summary>Test only (needs --testing): a fault-injection spec; hidden from --help.</summary>
    public Option<string?> InjectFaults { get; } = new("--inject-faults") { Description = "TEST ONLY, needs --testing: fail I/O on purpose, e.g. write:eio@3,sync:eio@1,read:eio%0.5,write:enospc@2,write:short@4,seed=7. Default: none.", Hidden = true };

    /// <summary>Test only (needs --testing): where to write the device's recorded trace; hidden from --help.</summary>
    public Option<DirectoryInfo?> RecordTrace { get; } = new("--record-trace") { Description = "TEST ONLY, needs --testing: record every request, backend event and written byte, and write the trace, the write data and the initial contents into this directory when the device stops (for 'loop-order crash-images'). Default: nothing recorded.", Hidden = true };

    /// <summary>The options common to every target.</summary>
    public Option<ZeroCopyMode> ZeroCopy { get; } = new("--zero-copy") { Description = "auto, on or off: read and write the backing file straight from each request's own pages where the kernel offers it (UBLK_F_AUTO_BUF_REG, 6.16+; file target), copies elsewhere. Default: auto (with --direct-io only; on a buffered ext4 file 4 KiB random writes are faster with copies).", DefaultValueFactory = _ => ZeroCopyMode.Auto };

    public Option<bool> BatchIo { get; } = new("--batch-io") { Description = "Batched ublk commands where the kernel offers them (UBLK_F_BATCH_IO, 7.0+): one command arms every tag, one multishot fetch delivers many new requests, one command completes a round's requests. Default: off (one command per request).", DefaultValueFactory = _ => false };

    public IEnumerable<Option> Common => [Size, Queues, Depth, Ordering, DirectIo, BlockSize, ReadOnly, ChannelWrites, ZeroCopy, BatchIo, RecoveryIo, Partitions, TrackChanges, TrackGranularity, Testing, InjectFaults, RecordTrace];

    public IEnumerable<Option> All => new Option[] { Target }.Concat(TargetSpecific.Select(t => t.Option)).Concat(Common);

    /// <summary>True when the command line names a device: --target or a target's own option (--file) was typed.</summary>
    public bool NamesDevice(ParseResult parse) =>
        parse.GetResult(Target) is { Implicit: false } || TargetSpecific.Any(t => parse.GetResult(t.Option) is { Implicit: false });

    /// <summary>True when any common device option was typed.</summary>
    public bool AnyCommonOptionGiven(ParseResult parse) => Common.Any(o => parse.GetResult(o) is { Implicit: false });

    /// <summary>The device the command line describes; paths made absolute here, since the daemon's working directory differs.</summary>
    public DeviceOptions Read(ParseResult parse)
    {
        var o = new DeviceOptions
        {
            Target = parse.GetValue(Target) ?? TargetRegistry.DefaultName,
            Size = parse.GetValue(Size),
            Queues = parse.GetValue(Queues),
            Depth = parse.GetValue(Depth),
            Ordering = parse.GetValue(Ordering),
            DirectIo = parse.GetValue(DirectIo),
            BlockSize = parse.GetValue(BlockSize),
            ReadOnly = parse.GetValue(ReadOnly),
            ChannelWrites = parse.GetValue(ChannelWrites),
            ZeroCopy = parse.GetValue(ZeroCopy),
            BatchIo = parse.GetValue(BatchIo),
            RecoveryIo = parse.GetValue(RecoveryIo),
            Partitions = parse.GetValue(Partitions),
            TrackChanges = parse.GetValue(TrackChanges),
            TrackGranularity = parse.GetValue(TrackGranularity),
            Testing = parse.GetValue(Testing),
            InjectFaults = parse.GetValue(InjectFaults),
            RecordTrace = parse.GetValue(RecordTrace)?.FullName,
        };
        foreach ((TargetOption spec, Option<string?> option) in TargetSpecific)
        {
            if (parse.GetValue(option) is { } value)
            {
                o.TargetOptions[spec.Name] = spec.Kind == TargetOptionKind.Path && !string.IsNullOrWhiteSpace(value) ? Path.GetFullPath(value) : value;
            }
        }

        return o;
    }
}
