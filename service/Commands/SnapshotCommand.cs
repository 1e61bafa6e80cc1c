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
        var to = new Option<string?>("--to") { Description = "The snapshot's file; it must not exist. A reflink must be on the backing file's filesystem; a copy-on-write store may be anywhere with room for the whole device. Default: next to the backing file, FILE.snap-NAME." };
        var kind = new Option<string>("--kind") { Description = "reflink (FICLONE: btrfs, xfs), cow (a copy-on-write store kept by LoopOrder: any filesystem; the first overwrite of each 64 KiB chunk after the snapshot copies it first), or auto: a reflink where the filesystem has them, else cow. Default: auto.", DefaultValueFactory = _ => "auto" };
        kind.AcceptOnlyFromAmong("auto", "reflink", "cow");
        var json = new Option<bool>("--json") { Description = "Print the snapshot as JSON. Default: off (text).", DefaultValueFactory = _ => false };
        var command = new Command(
            "snapshot",
            "Snapshot a live file-backed device: every write received before the command (so every one acknowledged) is in it, none received after; writes wait during the cut, reads go on. A reflink of the backing file on btrfs or xfs, else a copy-on-write store (loop-order snapshot export makes an image of either). Prints the file, its size and how long writes were held.")
        {
            id, name, to, kind, json,
        };
        command.SetAction(parse =>
        {
            string n = parse.GetValue(name)!;
            if (n is "list" or "delete" or "export")
            {
                parse.InvocationConfiguration.Error.WriteLine($"loop-order snapshot: '{n}' is a subcommand; give the device ID first (loop-order snapshot {n} ID ...), or pick another snapshot name.");
                return ExitCodes.Usage;
            }

            return ClientCommands.Call(
                context,
                "snapshot",
                new ControlRequest { Op = ControlOp.Snapshot, Id = parse.GetValue(id), Name = n, To = parse.GetValue(to) is { } t ? Path.GetFullPath(t) : null, Kind = parse.GetValue(kind) },
                parse,
                r => Print(parse.InvocationConfiguration.Output, r.Snapshots![0], parse.GetValue(json)));
        });
        command.Subcommands.Add(List(context));
        command.Subcommands.Add(Delete(context));
        command.Subcommands.Add(Export(context));
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

            output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{"NAME",-16} {"KIND",-8} {"BYTES",14} {"STORE",14} {"HELD(ms)",9} {"CREATED (UTC)",-20} PATH"));
            foreach (SnapshotRecord s in snapshots)
            {
                string kindText = s.Invalid == true ? "INVALID" : s.Kind;
                string store = s.StoreBytes?.ToString(CultureInfo.InvariantCulture) ?? "-";
                output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{s.Name,-16} {kindText,-8} {s.Bytes,14} {store,14} {s.WritesHeldMs,9:F1} {s.Created.UtcDateTime,-20:yyyy-MM-dd HH:mm:ss} {s.Path}"));
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

    private static Command Export(ServiceContext context)
    {
        var id = IdArgument();
        var name = new Argument<string>("NAME") { Description = "The snapshot to export." };
        var to = new Option<string>("--to") { Description = "The raw image to write; it must not exist. Required.", Required = true };
        var json = new Option<bool>("--json") { Description = "Print what was written as JSON. Default: off (text).", DefaultValueFactory = _ => false };
        var command = new Command("export", "Write a snapshot out as a raw image, while the device serves: a reflink of a reflink snapshot where it can, else a copy; for a copy-on-write snapshot, each chunk from its store or the live file. All-zero chunks stay holes; the image is synced before the command returns.") { id, name, to, json };
        command.SetAction(parse => ClientCommands.Call(
            context,
            "snapshot export",
            new ControlRequest { Op = ControlOp.SnapshotExport, Id = parse.GetValue(id), Name = parse.GetValue(name), To = Path.GetFullPath(parse.GetValue(to)!) },
            parse,
            r =>
            {
                SnapshotExport e = r.Export!;
                parse.InvocationConfiguration.Output.WriteLine(parse.GetValue(json)
                    ? JsonSerializer.Serialize(e, ControlJson.Default.SnapshotExport)
                    : string.Create(CultureInfo.InvariantCulture, $"{e.Path}: {e.Bytes} bytes ({e.DataBytes} with data, {e.Method}) in {e.Ms:F0} ms"));
            }));
        return command;
    }

    private static Argument<uint> IdArgument() => new("ID") { Description = "The device number N of /dev/ublkbN." };

    private static void Print(TextWriter output, SnapshotRecord s, bool json) =>
        output.WriteLine(json
            ? JsonSerializer.Serialize(s, ControlJson.Default.SnapshotRecord)
            : string.Create(CultureInfo.InvariantCulture, $"{s.Path}: {s.Bytes} bytes, writes held {s.WritesHeldMs:F1} ms"));
}
