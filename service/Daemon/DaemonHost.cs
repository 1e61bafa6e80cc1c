using LoopOrder.Interop;
using LoopOrder.Service.Configuration;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Hosting.Systemd;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Console;
using Microsoft.Extensions.Options;

namespace LoopOrder.Service.Daemon;

/// <summary>Builds and runs the daemon on the generic host.</summary>
public static class DaemonHost
{
    /// <summary>
    /// How long SIGTERM's shutdown may take, all devices together (HostOptions.ShutdownTimeout):
    /// 90 seconds by default, inside the unit file's TimeoutStopSec=120.
    /// </summary>
    public static readonly TimeSpan DefaultShutdownTimeout = TimeSpan.FromSeconds(90);

    /// <summary>Builds the host: configuration, validated options, logging, the daemon service.</summary>
    /// <param name="context">Where things are.</param>
    /// <param name="launch">Command-line devices.</param>
    /// <param name="verbose">Debug logging.</param>
    public static IHost Build(ServiceContext context, DaemonLaunch launch, bool verbose)
    {
        ArgumentNullException.ThrowIfNull(context);
        HostApplicationBuilder builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings
        {
            Args = [],
            DisableDefaults = true,
            ContentRootPath = Directory.GetCurrentDirectory(),
        });

        // The working directory's appsettings.json, then /etc/loop-order's, then LOOPORDER_-prefixed
        // environment variables (e.g. LOOPORDER_LoopOrder__RuntimeDirectory): later wins.
        if (context.ReadWorkingDirectoryConfig)
        {
            builder.Configuration.AddJsonFile(Path.Combine(Directory.GetCurrentDirectory(), "appsettings.json"), optional: true, reloadOnChange: false);
        }

        if (context.ConfigDirectory is { } etc)
        {
            builder.Configuration.AddJsonFile(Path.Combine(etc, "appsettings.json"), optional: true, reloadOnChange: false);
        }

        builder.Configuration.AddEnvironmentVariables("LOOPORDER_");

        builder.Services.AddSingleton(context);
        builder.Services.AddSingleton(launch);
        builder.Services.AddSingleton<IValidateOptions<DaemonOptions>>(new DeviceOptionsValidator(builder.Configuration));
        builder.Services.AddOptions<DaemonOptions>()
            .Bind(builder.Configuration.GetSection(DaemonOptions.Section))
            .PostConfigure(o =>
            {
                if (context.RuntimeDirectory is { } dir)
                {
                    o.RuntimeDirectory = dir;
                }
            })
            .ValidateOnStart();
        builder.Services.Configure<HostOptions>(o => o.ShutdownTimeout = DefaultShutdownTimeout);
        builder.Services.Configure<ConsoleLifetimeOptions>(o => o.SuppressStatusMessages = true);
        builder.Services.AddHostedService<SystemdWatchdog>();
        builder.Services.AddSingleton<DaemonService>();
        builder.Services.AddHostedService(sp => sp.GetRequiredService<DaemonService>());

        builder.Logging.ClearProviders();
        builder.Logging.SetMinimumLevel(verbose ? LogLevel.Debug : LogLevel.Information);
        builder.Logging.AddConfiguration(builder.Configuration.GetSection("Logging"));
        builder.Logging.AddSimpleConsole(o =>
        {
            o.SingleLine = true;
            o.TimestampFormat = "HH:mm:ss.fff ";
        });

        // stdout carries data only (serve's device path, list, stats): logs go to stderr.
        builder.Logging.Services.Configure<ConsoleLoggerOptions>(o => o.LogToStandardErrorThreshold = LogLevel.Trace);

        // systemd, through Microsoft.Extensions.Hosting.Systemd (the HostApplicationBuilder form of
        // UseSystemd): when systemd started this process, SystemdLifetime replaces ConsoleLifetime
        // (READY=1 once the host has started, i.e. after DaemonService.StartAsync; STOPPING=1 and a
        // graceful stop on SIGTERM) and the console logs take the journal's format (<N> priority
        // prefixes, no timestamps). Registered after the simple console so its formatter wins.
        if (context.SystemdNotifier is { } notifier)
        {
            // Tests: the same registrations the library makes under systemd, over their notifier.
            builder.Services.AddSingleton(notifier);
            builder.Services.AddSingleton<IHostLifetime, SystemdLifetime>();
            builder.Services.Configure<ConsoleLoggerOptions>(o => o.FormatterName = ConsoleFormatterNames.Systemd);
        }
        else
        {
            builder.Services.AddSystemd();
        }
        return builder.Build();
    }

    /// <summary>Runs the daemon until SIGTERM or SIGINT; returns the exit code.</summary>
    /// <param name="context">Where things are.</param>
    /// <param name="launch">Command-line devices.</param>
    /// <param name="verbose">Debug logging.</param>
    /// <param name="error">Where a failure to start is explained.</param>
    public static int Run(ServiceContext context, DaemonLaunch launch, bool verbose, TextWriter error)
    {
        ArgumentNullException.ThrowIfNull(error);
        IHost host;
        DaemonService daemon;
        try
        {
            host = Build(context, launch, verbose);
            daemon = host.Services.GetRequiredService<DaemonService>();
        }
        catch (Exception e)
        {
            return Fail(ConfigError(e), error);
        }

        using (host)
        {
            try
            {
                host.Start();
            }
            catch (Exception e)
            {
                ServiceException s = ConfigError(e);
                Log.StartFailed(host.Services.GetRequiredService<ILogger<DaemonService>>(), s.Message);
                return Fail(s, error);
            }

            host.WaitForShutdown();
            if (daemon.FinalFlushResult < 0)
            {
                error.WriteLine($"loop-order serve: a final fdatasync failed: {ErrnoExtensions.ErrnoOf(daemon.FinalFlushResult).Describe()}; the file may lack the last writes.");
                return ExitCodes.IoError;
            }

            return ExitCodes.Ok;
        }
    }

    private static ServiceException ConfigError(Exception e) =>
        e is InvalidOperationException { InnerException: FormatException or InvalidOperationException }
            || (e is InvalidOperationException && e.Message.Contains("configuration", StringComparison.OrdinalIgnoreCase))
            ? new ServiceException(ExitCodes.Config, $"invalid configuration: {e.Message}. Fix appsettings.json (or /etc/loop-order/appsettings.json).", e)
            : ServiceErrors.From(e);

    private static int Fail(ServiceException s, TextWriter error)
    {
        error.WriteLine($"loop-order serve: {s.Message}");
        error.Flush();
        return s.ExitCode;
    }
}
