using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using LoopOrder.Service.Control;
using LoopOrder.Service.Daemon;

namespace LoopOrder.Service.Commands;

/// <summary>
/// <c>loop-order backup ID NAME --to FILE [--since NAME0] [--json]</c>: takes snapshot NAME and
/// writes it as a qcow2 image, in full or only what changed since the backed-up snapshot NAME0 (on
/// top of that backup), with qemu-img and qemu-io, plus a manifest FILE.json.
/// </summary>
public static class BackupCommand
{
    /// <summary>The command.</summary>
    /// <param name="context">Where the daemon is.</param>
    public static Command Create(ServiceContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        var id = new Argument<uint>("ID") { Description = "The device number N of /dev/ublkbN." };
        var name = new Argument<string>("NAME") { Description = "The snapshot the backup takes (a new name, as for loop-order snapshot)." };
        var to = new Option<string>("--to") { Description = "The qcow2 image to write; it and FILE.json must not exist. Required.", Required = true };
        var since = new Option<string?>("--since") { Description = "An earlier snapshot that has a backup: write only the extents changed since it (the device must track changes), as a qcow2 whose backing file is that backup. Default: none, a full backup." };
        var json = new Option<bool>("--json") { Description = "Print the manifest as JSON. Default: off (text).", DefaultValueFactory = _ => false };
        var command = new Command(
            "backup",
            "Back up a live file-backed device: take snapshot NAME, then write it as qcow2 (qemu-img, qemu-io from qemu-utils), in full or only what changed since snapshot NAME0 on top of NAME0's backup. Restore a chain with qemu-img convert -O raw FILE IMAGE. Writes a manifest FILE.json.")
        {
            id, name, to, since, json,
        };
        command.SetAction(parse => ClientCommands.Call(
            context,
            "backup",
            new ControlRequest { Op = ControlOp.Backup, Id = parse.GetValue(id), Name = parse.GetValue(name), To = Path.GetFullPath(parse.GetValue(to)!), Since = parse.GetValue(since) },
            parse,
            r =>
            {
                BackupReport b = r.Backup!;
                parse.InvocationConfiguration.Output.WriteLine(parse.GetValue(json)
                    ? JsonSerializer.Serialize(b, ControlJson.Default.BackupReport)
                    : string.Create(CultureInfo.InvariantCulture, $"{b.Path}: {(b.Since is null ? "full" : "changes since " + b.Since)}, {b.ChangedBytes} bytes in {b.Extents.Count} extents, image {b.ImageBytes} bytes; writes held {b.WritesHeldMs:F1} ms"));
            }));
        return command;
    }
}
