using LoopOrder.Queues.Ordering;
using LoopOrder.Queues.Targets;
using LoopOrder.Ublk.Protocol;
using LoopOrder.Verification.Faults;
using Microsoft.Extensions.Options;

namespace LoopOrder.Service.Configuration;

/// <summary>Checks device options before anything is touched: the same rules for the command line, the control socket and appsettings.json.</summary>
public sealed class DeviceOptionsValidator : IValidateOptions<DaemonOptions>
{
    private readonly Microsoft.Extensions.Configuration.IConfiguration? _configuration;

    /// <summary>A validator of the options alone.</summary>
    public DeviceOptionsValidator()
    {
    }

    /// <summary>A validator that also checks each configured device binds (the binder silently drops list entries it cannot convert).</summary>
    /// <param name="configuration">The configuration the options were bound from.</param>
    public DeviceOptionsValidator(Microsoft.Extensions.Configuration.IConfiguration configuration) => _configuration = configuration;

    /// <summary>The first problem with <paramref name="o"/>, phrased for the command line, or null.</summary>
    /// <param name="o">The device.</param>
    public static string? Problem(DeviceOptions o)
    {
        ArgumentNullException.ThrowIfNull(o);
        if (TargetRegistry.Find(o.Target) is not { } target)
        {
            return $"--target: '{o.Target}' is not a target; give one of {TargetRegistry.Names}.";
        }

        foreach (string name in o.TargetOptions.Keys)
        {
            ITarget? owner = TargetRegistry.Owner(name);
            if (owner is null)
            {
                return $"'{name}' is not an option of any target ({TargetRegistry.Names}).";
            }

            if (owner != target)
            {
                return $"--{name} is an option of the {owner.Name} target, not of --target {target.Name}.";
            }
        }

        long? size = null;
        if (o.Size is not null)
        {
            try
            {
                size = SizeText.Parse(o.Size);
            }
            catch (FormatException e)
            {
                return $"--size: {e.Message}";
            }

            if (size % o.BlockSize != 0 && o.BlockSize is 512 or 4096)
            {
                return $"--size: {size} bytes is not a multiple of the block size ({o.BlockSize}).";
            }
        }

        if (o.Queues < 1 || o.Queues > DeviceOptions.MaxQueues)
        {
            return $"--queues: {o.Queues} is out of range; give 1 to {DeviceOptions.MaxQueues}.";
        }

        if (o.Depth < 1 || o.Depth > UblkLimits.MaxQueueDepth)
        {
            return $"--depth: {o.Depth} is out of range; give 1 to {UblkLimits.MaxQueueDepth}.";
        }

        if (o.BlockSize is not (512 or 4096))
        {
            return $"--block-size: {o.BlockSize} is not supported; give 512 or 4096.";
        }

        if (!Enum.IsDefined(o.Ordering))
        {
            return $"--ordering: {o.Ordering} is not drain, strict or none.";
        }

        if (o.DirectIo && !target.Capabilities.HasFlag(TargetCapabilities.DirectIo))
        {
            return $"--direct-io: the {target.Name} target has no cache to bypass.";
        }

        if (!Enum.IsDefined(o.ZeroCopy))
        {
            return $"--zero-copy: {o.ZeroCopy} is not auto, on or off.";
        }

        if (o.ZeroCopy == ZeroCopyMode.On && !target.Capabilities.HasFlag(TargetCapabilities.ZeroCopy))
        {
            return $"--zero-copy: the {target.Name} target's data does not live in a file the queue threads can read and write; zero copy is for --target file.";
        }

        if (o.ReadOnly && !target.Capabilities.HasFlag(TargetCapabilities.ReadOnly))
        {
            return $"--read-only: the {target.Name} target cannot serve a read-only device.";
        }

        if (o.RecordTrace is not null && !o.Testing)
        {
            return "--record-trace is a test option: give --testing with it (it records every written byte and slows the device).";
        }

        if (o.RecordTrace is not null && !Path.IsPathRooted(o.RecordTrace))
        {
            return $"--record-trace: {o.RecordTrace} must be an absolute path.";
        }

        if (TrackingProblem(o, target) is { } tracking)
        {
            return tracking;
        }

        if (target.Problem(o.ToTargetRequest(recovering: false)) is { } problem)
        {
            return problem;
        }

        if (o.InjectFaults is not null && FaultProblem(o) is { } faults)
        {
            return faults;
        }

        return null;
    }

    /// <summary>--track-changes needs the file target; --track-granularity needs it, and a power of two from 4 KiB to 1 GiB.</summary>
    private static string? TrackingProblem(DeviceOptions o, ITarget target)
    {
        if (o.TrackGranularity is not null && !o.TrackChanges)
        {
            return "--track-granularity: give --track-changes with it.";
        }

        if (!o.TrackChanges)
        {
            return null;
        }

        if (target.Name != LoopOrder.Queues.Targets.File.FileTarget.TargetName)
        {
            return $"--track-changes: the {target.Name} target does not track changes; it needs the file target.";
        }

        if (o.TrackGranularity is null)
        {
            return null;
        }

        long bytes;
        try
        {
            bytes = SizeText.Parse(o.TrackGranularity);
        }
        catch (FormatException e)
        {
            return $"--track-granularity: {e.Message}";
        }

        return bytes is < 4096 or > LoopOrder.Queues.Tracking.ChangeTracker.MaxRegionSize || !System.Numerics.BitOperations.IsPow2(bytes)
            ? $"--track-granularity: {o.TrackGranularity} is not a power of two from 4K to 1G."
            : null;
    }

    /// <summary>--inject-faults needs --testing and a spec that parses.</summary>
    private static string? FaultProblem(DeviceOptions o)
    {
        if (!o.Testing)
        {
            return "--inject-faults is a test option (the device fails I/O on purpose); give --testing with it.";
        }

        return FaultPlan.TryParse(o.InjectFaults, out _, out string? error) ? null : $"--inject-faults: {error}";
    }

    /// <inheritdoc />
    public ValidateOptionsResult Validate(string? name, DaemonOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var failures = new List<string>();
        if (string.IsNullOrWhiteSpace(options.RuntimeDirectory) || !Path.IsPathRooted(options.RuntimeDirectory))
        {
            failures.Add($"LoopOrder:RuntimeDirectory must be an absolute path (it is '{options.RuntimeDirectory}')");
        }

        if (options.DeviceStopTimeout <= TimeSpan.Zero)
        {
            failures.Add("LoopOrder:DeviceStopTimeout must be positive");
        }

        if (_configuration is not null)
        {
            int i = 0;
            foreach (Microsoft.Extensions.Configuration.IConfigurationSection entry in _configuration.GetSection(DaemonOptions.Section + ":Devices").GetChildren())
            {
                try
                {
                    var probe = new DeviceOptions();
                    Microsoft.Extensions.Configuration.ConfigurationBinder.Bind(entry, probe);
                }
                catch (InvalidOperationException e)
                {
                    failures.Add($"LoopOrder:Devices:{i}: {e.Message}");
                }

                i++;
            }
        }

        var valid = new List<DeviceOptions>();
        for (int i = 0; i < options.Devices.Count; i++)
        {
            DeviceOptions d = options.Devices[i];
            if (Problem(d) is { } p)
            {
                failures.Add($"LoopOrder:Devices:{i}: {p.Replace("--", string.Empty, StringComparison.Ordinal)}");
                continue;
            }

            DeviceOptions n = d.Normalised();
            if (valid.FirstOrDefault(v => v.SameStorage(n)) is { } other)
            {
                failures.Add($"LoopOrder:Devices:{i}: {n.Describe()} is already served by another device; each {n.Target} storage may back one device");
            }

            valid.Add(n);
        }

        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }
}
