using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using LoopOrder.Service.Control;
using LoopOrder.Service.Daemon;

namespace LoopOrder.Service.Commands;

/// <summary>
/// <c>loop-order changes ID --since NAME [--to NAME2|now] [--json]</c>: the extents of a device
/// with <c>--track-changes</c> written, discarded or zeroed after snapshot NAME (up to snapshot
/// NAME2, or up to now), coalesced: what an incremental backup must copy.
/// </summary>
public static class ChangesCommand
{
    /// <summary>The command.</summary>
    /// <param name="context">Where the daemon is.</param>
    public static Command Create(ServiceContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        var id = new Argument<uint>("ID") { Description = "The device number N of /dev/ublkbN." };
        var since = new Option<string>("--since") { Description = "The snapshot the changes are since (taken with change tracking on). Required.", Required = true };
        var to = new Option<string?>("--to") { Description = $"The later snapshot the changes run up to, or '{ServedDevice.Now}'. Default: {ServedDevice.Now} (including writes received so far)." };
        var json = new Option<bool>("--json") { Description = "Print a JSON array of {\"offset\", \"length\"} in bytes. Default: off (text: one 'OFFSET LENGTH' a line, then the total).", DefaultValueFactory = _ => false };
        var command = new Command(
            "changes",
            "List the byte extents of a device with --track-changes that changed after a snapshot (up to a later one, or now), coalesced, in whole tracked regions: what an incremental backup copies.")
        {
            id, since, to, json,
        };
        command.SetAction(parse => ClientCommands.Call(
            context,
            "changes",
            new ControlRequest { Op = ControlOp.Changes, Id = parse.GetValue(id), Name = parse.GetValue(since), Until = parse.GetValue(to) },
            parse,
            r => Print(parse.InvocationConfiguration.Output, r.Extents ?? [], parse.GetValue(json))));
        return command;
    }

    private static void Print(TextWriter output, List<ChangedExtent> extents, bool json)
    {
        if (json)
        {
            output.WriteLine(JsonSerializer.Serialize(extents, ControlJson.Default.ListChangedExtent));
            return;
        }

        long total = 0;
        foreach (ChangedExtent e in extents)
        {
            output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{e.Offset} {e.Length}"));
            total += e.Length;
        }

        output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"total: {total} bytes in {extents.Count} extents"));
    }
}
