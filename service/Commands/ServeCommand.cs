using System.CommandLine;
using LoopOrder.Service.Configuration;
using LoopOrder.Service.Daemon;
using LoopOrder.Ublk.Control;

namespace LoopOrder.Service.Commands;

/// <summary>
/// <c>loop-order serve [--target NAME] [--file F] [device options]</c>: the daemon, on the generic
/// host. Devices come from appsettings.json (the working directory's and /etc/loop-order/'s), from
/// the command line, and from <c>loop-order add</c> through the control socket; recorded devices a
/// killed daemon left are reattached first. With a command-line device it prints the block device
/// path on stdout once the device is up. SIGTERM or SIGINT stops accepting, drains, fdatasyncs, deletes every device and exits 0.
/// </summary>
public static class ServeCommand
{
    /// <summary>Builds the <c>serve</c> subcommand.</summary>
    public static Command Create() => Create(ServiceContext.Default);

    /// <summary>Builds the <c>serve</c> subcommand over <paramref name="context"/>.</summary>
    /// <param name="context">Where things are.</param>
    public static Command Create(ServiceContext context)
    {
        var device = new DeviceOptionSet();

        // Every device is added with USER_RECOVERY when its target outlives the daemon; the option
        // did nothing since, and is kept (hidden) so that scripts that pass it still parse.
        var recovery = new Option<bool>("--recovery") { Description = "Ignored, accepted for older scripts: a device whose target outlives the daemon (file) is always added with USER_RECOVERY.", Hidden = true };
        var verbose = new Option<bool>("--verbose", "-v") { Description = "Log debug details. Default: off (information and above).", DefaultValueFactory = _ => false };

        var command = new Command(
            "serve",
            "Run the daemon until SIGTERM or SIGINT: serve the device the command line names (--file F, or --target NAME; printing its /dev/ublkbN), the devices in appsettings.json and any added later with 'loop-order add'; reattach devices a killed daemon left. Without a device it waits for 'add'.");
        foreach (Option o in device.All)
        {
            command.Options.Add(o);
        }

        command.Options.Add(recovery);
        command.Options.Add(verbose);
        command.SetAction(parse =>
        {
            bool named = device.NamesDevice(parse);
            if (!named && device.AnyCommonOptionGiven(parse))
            {
                parse.InvocationConfiguration.Error.WriteLine("loop-order serve: device options need --file (the backing file) or --target; without them the daemon serves configured devices and waits for 'loop-order add'.");
                return ExitCodes.Usage;
            }

            var settings = new ServeSettings
            {
                Device = named ? device.Read(parse) : null,
                Verbose = parse.GetValue(verbose),
                ControlPath = context.ControlPath,
            };
            return Run(settings, parse.InvocationConfiguration.Output, parse.InvocationConfiguration.Error, context);
        });
        return command;
    }

    /// <summary>Serves until a signal, then tears down; returns the exit code.</summary>
    /// <param name="settings">What to serve.</param>
    /// <param name="output">Gets the block device path, one line.</param>
    /// <param name="error">Gets messages for a human.</param>
    public static int Run(ServeSettings settings, TextWriter output, TextWriter error) =>
        Run(settings, output, error, new ServiceContext { ControlPath = settings?.ControlPath ?? UblkControl.DefaultPath });

    /// <summary>Serves until a signal over <paramref name="context"/>; returns the exit code.</summary>
    /// <param name="settings">What to serve.</param>
    /// <param name="output">Gets the block device path, one line.</param>
    /// <param name="error">Gets messages for a human.</param>
    /// <param name="context">Where things are.</param>
    public static int Run(ServeSettings settings, TextWriter output, TextWriter error, ServiceContext context)
    {
        ArgumentNullException.ThrowIfNull(settings);
        ArgumentNullException.ThrowIfNull(output);
        ArgumentNullException.ThrowIfNull(error);
        ArgumentNullException.ThrowIfNull(context);

        List<DeviceOptions> devices = [];
        if (settings.Device is { } d)
        {
            if (DeviceOptionsValidator.Problem(d) is { } problem)
            {
                error.WriteLine($"loop-order serve: {problem}");
                return ExitCodes.Usage;
            }

            devices.Add(d.Normalised());
        }

        // No ublk, no point touching the storage: say so before creating anything.
        if (!context.Factory(settings.ControlPath).IsAvailable)
        {
            error.WriteLine($"loop-order serve: {new UblkUnavailableException(settings.ControlPath).Message}");
            return ExitCodes.Unavailable;
        }

        var launch = new DaemonLaunch
        {
            Devices = devices,
            DeviceStarted = report =>
            {
                output.WriteLine(report.BlockDevice);
                output.Flush();
            },
        };
        return DaemonHost.Run(new ServiceContext
        {
            RuntimeDirectory = context.RuntimeDirectory,
            ConfigDirectory = context.ConfigDirectory,
            Factory = context.Factory,
            ControlPath = settings.ControlPath,
            SystemdNotifier = context.SystemdNotifier,
            WatchdogInterval = context.WatchdogInterval,
            ReadWorkingDirectoryConfig = context.ReadWorkingDirectoryConfig,
        }, launch, settings.Verbose, error);
    }

    /// <summary>"4G", "512M", "64k", "1GiB", "1048576": bytes, binary units.</summary>
    /// <param name="text">The size.</param>
    /// <exception cref="FormatException">Not a size.</exception>
    public static long ParseSize(string text) => SizeText.Parse(text);
}
