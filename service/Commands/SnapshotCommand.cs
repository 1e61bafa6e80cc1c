using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using LoopOrder.Service.Control;
using LoopOrder.Service.Daemon;

namespace LoopOrder.Service.Commands;

/// <summary>
/// <c>loop-order snapshot ID NAME [--to PATH] [--json]</c>, <c>snapshot list ID [--json]</c>,
/// <c>snapshot delete ID NAME</c>: point-in-time snapshots of a live file-backed device, through
/// the daemon (reflinks, so the backing file must be on btrfs or xfs).
/// </summary>
public static class SnapshotCommand
{
    /// <summary>The command and its two subcommands.</summary>
    /// <param name="context">Where the daemon is.</param>
    public static Command Create(ServiceContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        var id = IdArgument();
        var name = new Argument<string>("NAME") { Description = "The snapshot's name, unique per device: 1 to 64 letters, digits, '.', '_' or '-' (not 'list' or 'delete')." };
        var to = new Option<string?>("--to") { Description = "The snapshot's file, on the backing file's filesystem; it must not exist. Default: next to the backing file, FILE.snap-NAME." };
        var json = new Option<bool>("--json") { Description = "Print the snapshot as JSON. Default: off (text).", DefaultValueFactory = _ => false };
        var command = new Command(
            "snapshot",
            "Snapshot a live file-backed device: every write received before the command (so every one acknowledged) is in it, none received after; writes wait during the cut, reads go on. A reflink of the backing file (btrfs, xfs): exit 69 elsewhere. Prints the file, its size and how long writes were held.")
        {
            id, name, to, json,
        };
        command.SetAction(parse =>
        {
            string n = parse.GetValue(name)!;
            if (n is "list" or "delete")
            {
                parse.InvocationConfiguration.Error.WriteLine($"loop-order snapshot: '{n}' is a subcommand; give the device ID first (loop-order snapshot {n} ID ...), or pick another snapshot name.");
                return ExitCodes.Usage;
            }

            return ClientCommands.Call(
                context,
                "snapshot",
                new ControlRequest { Op = ControlOp.Snapshot, Id = parse.GetValue(id), Name = n, To = parse.GetValue(to) },
                parse,
                r => Print(parse.InvocationConfiguration.Output, r.Snapshots![0], parse.GetValue(json)));
        });
        command.Subcommands.Add(List(context));
        command.Subcommands.Add(Delete(context));
        return command;
    }

    private static Command List(ServiceContext context)
    {
        var id = IdArgument();
        var json = new Option<bool>("--json") { Description = "Print a JSON array. Default: off (text).", DefaultValueFactory = _ => false };
        var command = new Command("list", "List a device's snapshots, oldest first: name, file, size, when, how long writes were held.") { id, json };
        command.SetAction(parse => ClientCommands.Call(context, "snapshot list", new ControlRequest { Op = ControlOp.SnapshotList, Id = parse.GetValue(id) }, parse, r =>
        {
            TextWriter output = parse.InvocationConfiguration.Output;
            List<SnapshotRecord> snapshots = r.Snapshots ?? [];
            if (parse.GetValue(json))
            {
                output.WriteLine(JsonSerializer.Serialize(snapshots, ControlJson.Default.ListSnapshotRecord));
                return;
            }

            output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{"NAME",-16} {"BYTES",14} {"HELD(ms)",9} {"CREATED (UTC)",-20} PATH"));
            foreach (SnapshotRecord s in snapshots)
            {
                output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{s.Name,-16} {s.Bytes,14} {s.WritesHeldMs,9:F1} {s.Created.UtcDateTime,-20:yyyy-MM-dd HH:mm:ss} {s.Path}"));
            }
        }));
        return command;
    }

    private static Command Delete(ServiceContext context)
    {
        var id = IdArgument();
        var name = new Argument<string>("NAME") { Description = "The snapshot to delete." };
        var command = new Command("delete", "Delete a device's snapshot: its file, and the daemon's record of it.") { id, name };
        command.SetAction(parse => ClientCommands.Call(
            context,
            "snapshot delete",
            new ControlRequest { Op = ControlOp.SnapshotDelete, Id = parse.GetValue(id), Name = parse.GetValue(name) },
            parse,
            r => parse.InvocationConfiguration.Output.WriteLine($"deleted snapshot {r.Snapshots![0].Name} ({r.Snapshots[0].Path})")));
        return command;
    }

    private static Argument<uint> IdArgument() => new("ID") { Description = "The device number N of /dev/ublkbN." };

    private static void Print(TextWriter output, SnapshotRecord s, bool json) =>
        output.WriteLine(json
            ? JsonSerializer.Serialize(s, ControlJson.Default.SnapshotRecord)
            : string.Create(CultureInfo.InvariantCulture, $"{s.Path}: {s.Bytes} bytes, writes held {s.WritesHeldMs:F1} ms"));
}
