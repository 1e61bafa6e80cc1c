using System.CommandLine;
using System.Globalization;
using LoopOrder.Service.Control;
using LoopOrder.Service.Daemon;

namespace LoopOrder.Service.Commands;

/// <summary><c>loop-order resize ID SIZE [--allow-shrink]</c>: a live device and its backing file, through the daemon (UPDATE_SIZE).</summary>
public static class ResizeCommand
{
    /// <summary>The command.</summary>
    /// <param name="context">Where the daemon is.</param>
    public static Command Create(ServiceContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        var id = new Argument<uint>("ID") { Description = "The device number N of /dev/ublkbN." };
        var size = new Argument<string>("SIZE") { Description = "The new size, e.g. 8G, 512M, 1048576 (binary units): a whole number of logical blocks." };
        var shrink = new Option<bool>("--allow-shrink") { Description = "Allow a size below the current one: the end of the device and of its file are lost (shrink the filesystem first). Default: off.", DefaultValueFactory = _ => false };
        var command = new Command(
            "resize",
            "Grow (or with --allow-shrink shrink) a live device and its backing file; a filesystem on it can then be grown online (resize2fs, xfs_growfs). Needs UBLK_F_UPDATE_SIZE (see loop-order features): exit 69 without it.")
        {
            id, size, shrink,
        };
        command.SetAction(parse => ClientCommands.Call(
            context,
            "resize",
            new ControlRequest { Op = ControlOp.Resize, Id = parse.GetValue(id), Size = parse.GetValue(size), AllowShrink = parse.GetValue(shrink) },
            parse,
            r => parse.InvocationConfiguration.Output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{r.Devices![0].BlockDevice}: {r.Devices[0].SizeBytes} bytes"))));
        return command;
    }
}
