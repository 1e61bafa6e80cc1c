using LoopOrder.Service.Configuration;
using LoopOrder.Ublk.Control;

namespace LoopOrder.Service.Commands;

/// <summary>What <see cref="ServeCommand"/> was asked to do: the daemon's own settings, and the command line's device if any.</summary>
public sealed class ServeSettings
{
    /// <summary>The device the command line names (serve --file F, serve --target memory --size 1G), served as the daemon starts; null for none (the default).</summary>
    public DeviceOptions? Device { get; init; }

    /// <summary>Debug logging. Default off.</summary>
    public bool Verbose { get; init; }

    /// <summary>The ublk control device (tests point it elsewhere). Default /dev/ublk-control.</summary>
    public string ControlPath { get; init; } = UblkControl.DefaultPath;
}
