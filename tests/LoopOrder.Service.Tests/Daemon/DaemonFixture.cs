using LoopOrder.Service.Configuration;
using LoopOrder.Service.Daemon;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace LoopOrder.Service.Tests.Daemon;

/// <summary>A temporary directory with a runtime directory, a config directory and a fake kernel; can run the real daemon host in-process.</summary>
internal sealed class DaemonFixture : IDisposable
{
    private IHost? _host;

    public DaemonFixture()
    {
        Root = Directory.CreateTempSubdirectory("looporder-daemon-").FullName;
        Directory.CreateDirectory(ConfigDirectory);
        Context = new ServiceContext
        {
            RuntimeDirectory = RuntimeDirectory,
            ConfigDirectory = ConfigDirectory,
            Factory = _ => Factory,
            ControlPath = "/fake/ublk-control",
            ReadWorkingDirectoryConfig = false,
        };
    }

    public string Root { get; }

    public string RuntimeDirectory => Path.Combine(Root, "run");

    public string ConfigDirectory => Path.Combine(Root, "etc");

    public FakeDeviceFactory Factory { get; } = new();

    public ServiceContext Context { get; set; }

    public DaemonService? Daemon => _host?.Services.GetRequiredService<DaemonService>();

    public IServiceProvider Services => _host?.Services ?? throw new InvalidOperationException("not started");

    public string PathOf(string name) => Path.Combine(Root, name);

    /// <summary>Starts the daemon host (the real one: configuration, validation, control socket).</summary>
    public void Start(DaemonLaunch? launch = null)
    {
        _host = DaemonHost.Build(Context, launch ?? new DaemonLaunch(), verbose: false);
        _host.Start();
    }

    /// <summary>What SIGTERM does: the host's graceful stop.</summary>
    public void Stop()
    {
        if (_host is not null)
        {
            _host.StopAsync().GetAwaiter().GetResult();
            _host.Dispose();
            _host = null;
        }
    }

    /// <summary>Runs the command line against this fixture.</summary>
    public (int Code, string Out, string Err) Run(params string[] args)
    {
        using var output = new StringWriter();
        using var error = new StringWriter();
        int code = Program.Run(args, output, error, Context);
        return (code, output.ToString(), error.ToString());
    }

    public void WriteConfig(string json) => File.WriteAllText(Path.Combine(ConfigDirectory, "appsettings.json"), json);

    public void Dispose()
    {
        Stop();
        Directory.Delete(Root, recursive: true);
    }

    public static DeviceOptions Device(string file, string? size = null) => new() { File = file, Size = size };
}
