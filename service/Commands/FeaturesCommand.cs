using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using LoopOrder.Service.Daemon;
using LoopOrder.Ublk.Control;
using LoopOrder.Ublk.Device;
using LoopOrder.Ublk.Protocol;

namespace LoopOrder.Service.Commands;

/// <summary>
/// <c>loop-order features [--json]</c>: every UBLK_F_* flag, whether the running kernel offers it
/// (GET_FEATURES), whether LoopOrder asks for it, and why (not). Needs no daemon; needs ublk_drv.
/// </summary>
public static class FeaturesCommand
{
    /// <summary>The command.</summary>
    /// <param name="context">Where the kernel is.</param>
    public static Command Create(ServiceContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        var json = new Option<bool>("--json") { Description = "Print JSON. Default: off (a table).", DefaultValueFactory = _ => false };
        var command = new Command("features", "What the running kernel's ublk_drv offers (GET_FEATURES), what LoopOrder uses of it, and why not the rest.") { json };
        command.SetAction(parse =>
        {
            TextWriter output = parse.InvocationConfiguration.Output;
            TextWriter error = parse.InvocationConfiguration.Error;
            UblkFeatures offered;
            try
            {
                IDeviceFactory factory = context.Factory(context.ControlPath);
                if (!factory.IsAvailable)
                {
                    throw new UblkUnavailableException(context.ControlPath);
                }

                offered = factory.OfferedFeatures;
            }
            catch (Exception e)
            {
                ServiceException s = ServiceErrors.From(e);
                error.WriteLine($"loop-order features: {s.Message}");
                return s.ExitCode;
            }

            IReadOnlyList<UblkFeatureDescription> all = UblkNegotiation.Describe(offered);
            string kernel = UblkFeatureNames.KernelRelease();
            if (parse.GetValue(json))
            {
                output.WriteLine(Json(kernel, offered, all));
            }
            else
            {
                output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"Linux {kernel}: ublk_drv offers 0x{(ulong)offered:x} ({UblkFeatureNames.Format(offered)})"));
                output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{"BIT",3}  {"FEATURE",-22} {"KERNEL",-7} {"LOOPORDER",-10} WHY"));
                foreach (UblkFeatureDescription d in all)
                {
                    output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{Bit(d.Feature),3}  {UblkFeatureNames.ShortName(d.Feature),-22} {(d.Offered ? "offered" : "-"),-7} {UseText(d),-10} {d.Reason}"));
                }
            }

            return ExitCodes.Ok;
        });
        return command;
    }

    /// <summary>What LoopOrder does with the flag on this kernel: uses (always), option (when asked), kernel (set by the kernel), no.</summary>
    /// <param name="d">The flag.</param>
    public static string UseText(UblkFeatureDescription d)
    {
        ArgumentNullException.ThrowIfNull(d);
        if (!d.Offered)
        {
            return "-";
        }

        return d.Use switch
        {
            UblkFeatureUse.Always => "uses",
            UblkFeatureUse.Option => "option",
            UblkFeatureUse.KernelSet => "kernel",
            _ => "no",
        };
    }

    private static int Bit(UblkFeatures f) => System.Numerics.BitOperations.TrailingZeroCount((ulong)f);

    private static string Json(string kernel, UblkFeatures offered, IReadOnlyList<UblkFeatureDescription> all)
    {
        using var buffer = new MemoryStream();
        using (var w = new Utf8JsonWriter(buffer))
        {
            w.WriteStartObject();
            w.WriteString("kernel", kernel);
            w.WriteString("offered", string.Create(CultureInfo.InvariantCulture, $"0x{(ulong)offered:x}"));
            w.WriteStartArray("features");
            foreach (UblkFeatureDescription d in all)
            {
                w.WriteStartObject();
                w.WriteNumber("bit", Bit(d.Feature));
                w.WriteString("name", d.Name);
                w.WriteBoolean("offered", d.Offered);
                w.WriteString("use", d.Use switch
                {
                    UblkFeatureUse.Always => "always",
                    UblkFeatureUse.Option => "option",
                    UblkFeatureUse.KernelSet => "kernel",
                    _ => "unused",
                });
                w.WriteBoolean("used", d.Offered && d.Use is UblkFeatureUse.Always or UblkFeatureUse.Option);
                w.WriteString("reason", d.Reason);
                w.WriteEndObject();
            }

            w.WriteEndArray();
            w.WriteEndObject();
        }

        return System.Text.Encoding.UTF8.GetString(buffer.ToArray());
    }
}
