using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using LoopOrder.Service.Configuration;
using LoopOrder.Service.Control;
using LoopOrder.Service.Daemon;

namespace LoopOrder.Service.Commands;

/// <summary>
/// The commands that talk to a running daemon over its control socket: add, del, list, stats,
/// recover. Each ends with the daemon's exit code and prints its message on stderr.
/// </summary>
public static class ClientCommands
{
    /// <summary><c>add [--target NAME] [--file F] [options]</c>: prints the new /dev/ublkbN.</summary>
    /// <param name="context">Where the daemon is.</param>
    public static Command Add(ServiceContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        var device = new DeviceOptionSet();
        var json = JsonOption("Print the new device as JSON.");
        var command = new Command("add", "Add a device to the running daemon; prints its /dev/ublkbN.");
        foreach (Option o in device.All)
        {
            command.Options.Add(o);
        }

        command.Options.Add(json);
        command.SetAction(parse =>
        {
            DeviceOptions options = device.Read(parse);
            TextWriter error = parse.InvocationConfiguration.Error;
            if (DeviceOptionsValidator.Problem(options) is { } problem)
            {
                error.WriteLine($"loop-order add: {problem}");
                return ExitCodes.Usage;
            }

            return Call(context, "add", new ControlRequest { Op = ControlOp.Add, Device = options }, parse, r =>
            {
                DeviceReport d = r.Devices![0];
                parse.InvocationConfiguration.Output.WriteLine(parse.GetValue(json)
                    ? JsonSerializer.Serialize(d, ControlJson.Default.DeviceReport)
                    : d.BlockDevice);
            });
        });
        return command;
    }

    /// <summary><c>del ID | --all</c>.</summary>
    /// <param name="context">Where the daemon is.</param>
    public static Command Delete(ServiceContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        var id = new Argument<uint?>("ID") { Description = "The device number N of /dev/ublkbN.", Arity = ArgumentArity.ZeroOrOne };
        var all = new Option<bool>("--all") { Description = "Delete every device the daemon serves. Default: off.", DefaultValueFactory = _ => false };
        var force = new Option<bool>("--force") { Description = "Delete even a device that is open or mounted (its users then get I/O errors). Default: off: such a device is refused (exit 75).", DefaultValueFactory = _ => false };
        var command = new Command("del", "Stop, flush and delete a device (or --all); a file keeps every acknowledged write (a memory device's contents are freed). A device that is open or mounted is refused unless --force.") { id, all, force };
        command.SetAction(parse =>
        {
            uint? n = parse.GetValue(id);
            bool everything = parse.GetValue(all);
            if (n is null == !everything)
            {
                parse.InvocationConfiguration.Error.WriteLine("loop-order del: give a device ID or --all (one of them).");
                return ExitCodes.Usage;
            }

            return Call(context, "del", new ControlRequest { Op = ControlOp.Del, Id = n, All = everything, Force = parse.GetValue(force) }, parse, r =>
            {
                foreach (DeviceReport d in r.Devices ?? [])
                {
                    parse.InvocationConfiguration.Output.WriteLine($"deleted {d.BlockDevice} ({d.Serves ?? d.File})");
                }
            });
        });
        return command;
    }

    /// <summary><c>list [--json]</c>: from the daemon, or without one from the kernel.</summary>
    /// <param name="context">Where the daemon is.</param>
    public static Command List(ServiceContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        var json = JsonOption("Print a JSON array.");
        var command = new Command("list", "List devices: the daemon's, or without a daemon what the kernel reports for /dev/ublkc*.") { json };
        command.SetAction(parse =>
        {
            TextWriter output = parse.InvocationConfiguration.Output;
            TextWriter error = parse.InvocationConfiguration.Error;
            List<DeviceReport> devices;
            try
            {
                devices = ControlClient.IsAnswering(context.ClientSocketPath)
                    ? Send(context, new ControlRequest { Op = ControlOp.List }).Devices ?? []
                    : KernelList(context);
            }
            catch (Exception e)
            {
                ServiceException s = ServiceErrors.From(e);
                error.WriteLine($"loop-order list: {s.Message}");
                return s.ExitCode;
            }

            if (parse.GetValue(json))
            {
                output.WriteLine(JsonSerializer.Serialize(devices, ControlJson.Default.ListDeviceReport));
                return ExitCodes.Ok;
            }

            output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{"ID",-4} {"DEVICE",-14} {"SIZE",10} {"Q",3} {"DEPTH",5} {"ORDER",-7} {"STATE",-9} {"PID",7}  SERVES"));
            foreach (DeviceReport d in devices)
            {
                output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{d.Id,-4} {d.BlockDevice,-14} {Human(d.SizeBytes),10} {d.Queues,3} {d.Depth,5} {d.Ordering ?? "?",-7} {StateName(d.State),-9} {d.Pid,7}  {d.Serves ?? d.File ?? "(unknown: not added by loop-order)"}"));
            }

            return ExitCodes.Ok;
        });
        return command;
    }

    /// <summary><c>stats ID [--json]</c>.</summary>
    /// <param name="context">Where the daemon is.</param>
    public static Command Stats(ServiceContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        var id = new Argument<uint>("ID") { Description = "The device number N of /dev/ublkbN." };
        var json = JsonOption("Print JSON.");
        var command = new Command("stats", "Per-queue requests, bytes, in-flight, flushes with latency percentiles, and the time flushes waited for earlier writes.") { id, json };
        command.SetAction(parse => Call(context, "stats", new ControlRequest { Op = ControlOp.Stats, Id = parse.GetValue(id) }, parse, r =>
        {
            TextWriter output = parse.InvocationConfiguration.Output;
            DeviceStatistics s = r.Stats!;
            if (parse.GetValue(json))
            {
                output.WriteLine(JsonSerializer.Serialize(s, ControlJson.Default.DeviceStatistics));
                return;
            }

            output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{s.BlockDevice}: {s.EngineFlushes} flushes waited {s.FlushWaitForWritesMs:F1} ms in total for earlier writes to land"));
            output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{s.BlockDevice}: and {s.FlushWaitBehindSyncsMs:F1} ms on other syncs, {s.FlushInSyncMs:F1} ms in their own; {s.EngineSyncs} syncs ran {s.SyncMs:F1} ms (at most {s.PeakSyncsInFlight} at once)"));
            output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{"QUEUE",-6} {"READS",9} {"WRITES",9} {"FLUSHES",8} {"DISCARDS",8} {"ERRORS",6} {"READ",10} {"WRITTEN",10} {"INFL",5} {"FLUSH p50/p90/p99/p99.9 (us)",30}"));
            foreach (QueueReport q in s.Queues.Append(s.Total))
            {
                string name = q.Queue < 0 ? "total" : q.Queue.ToString(CultureInfo.InvariantCulture);
                string latency = q.FlushP50Us is null ? "-" : string.Create(CultureInfo.InvariantCulture, $"{q.FlushP50Us:F0}/{q.FlushP90Us:F0}/{q.FlushP99Us:F0}/{q.FlushP999Us:F0}");
                output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{name,-6} {q.Reads,9} {q.Writes,9} {q.Flushes,8} {q.Discards,8} {q.Errors,6} {Human(q.BytesRead),10} {Human(q.BytesWritten),10} {q.InFlight,5} {latency,30}"));
            }
        }));
        return command;
    }

    /// <summary><c>recover ID</c>.</summary>
    /// <param name="context">Where the daemon is.</param>
    public static Command Recover(ServiceContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        var id = new Argument<uint>("ID") { Description = "The device number N of /dev/ublkbN." };
        var command = new Command("recover", "Reattach a device whose daemon was killed to its storage (a restarted daemon does this for every recorded device by itself). A memory device cannot be: its contents died with the daemon.") { id };
        command.SetAction(parse => Call(context, "recover", new ControlRequest { Op = ControlOp.Recover, Id = parse.GetValue(id) }, parse, r =>
            parse.InvocationConfiguration.Output.WriteLine($"recovered {r.Devices![0].BlockDevice} ({r.Devices[0].Serves ?? r.Devices[0].File})")));
        return command;
    }

    private static Option<bool> JsonOption(string description) => new("--json") { Description = description + " Default: off (text).", DefaultValueFactory = _ => false };

    private static ControlResponse Send(ServiceContext context, ControlRequest request) =>
        ControlClient.Send(context.ClientSocketPath, request);

    /// <summary>Sends <paramref name="request"/>; prints the daemon's error (and returns its exit code) or calls <paramref name="print"/>.</summary>
    internal static int Call(ServiceContext context, string name, ControlRequest request, ParseResult parse, Action<ControlResponse> print)
    {
        TextWriter error = parse.InvocationConfiguration.Error;
        try
        {
            ControlResponse response = Send(context, request);
            if (response.ExitCode != ExitCodes.Ok)
            {
                error.WriteLine($"loop-order {name}: {response.Error}");
                return response.ExitCode;
            }

            print(response);
            return ExitCodes.Ok;
        }
        catch (Exception e)
        {
            ServiceException s = ServiceErrors.From(e);
            error.WriteLine($"loop-order {name}: {s.Message}");
            return s.ExitCode;
        }
    }

    /// <summary>Without a daemon: every /dev/ublkcN the kernel has, with its target from its record where one exists.</summary>
    private static List<DeviceReport> KernelList(ServiceContext context)
    {
        IDeviceFactory factory = context.Factory(context.ControlPath);
        if (!factory.IsAvailable)
        {
            throw new Ublk.Control.UblkUnavailableException(context.ControlPath);
        }

        var records = new DeviceRecords(DaemonOptions.DevicesDirectory(context.ClientRuntimeDirectory));
        return factory.List().Select(k => DeviceManager.ReportOf(k, records.Find(k.Id)?.Options)).ToList();
    }

    /// <summary>The state as the wire and the kernel name it (live, fail_io).</summary>
    private static string StateName(DeviceState state) => JsonSerializer.Serialize(state, ControlJson.Default.DeviceState).Trim('"');

    private static string Human(long bytes)
    {
        string[] units = ["B", "K", "M", "G", "T"];
        double v = bytes;
        int u = 0;
        while (v >= 1024 && u < units.Length - 1)
        {
            v /= 1024;
            u++;
        }

        return u == 0 ? string.Create(CultureInfo.InvariantCulture, $"{bytes}B") : string.Create(CultureInfo.InvariantCulture, $"{v:0.#}{units[u]}");
    }
}
