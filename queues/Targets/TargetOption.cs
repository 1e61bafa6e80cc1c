namespace LoopOrder.Queues.Targets;

/// <summary>How a target option's value is read.</summary>
public enum TargetOptionKind
{
    /// <summary>Text, taken as typed.</summary>
    Text,

    /// <summary>A path: the command line makes it absolute against its own working directory, since the daemon's differs.</summary>
    Path,
}

/// <summary>
/// One option of one target: <c>--NAME</c> on the command line, <c>NAME</c> in a device's
/// <c>TargetOptions</c> (appsettings.json, the control socket, the records).
/// </summary>
/// <param name="Name">Lower case, without dashes; unique among all targets' options.</param>
/// <param name="Description">For --help; says the default (or that there is none).</param>
/// <param name="Kind">How the value is read.</param>
/// <param name="Aliases">Other spellings on the command line (e.g. "-f").</param>
public sealed record TargetOption(string Name, string Description, TargetOptionKind Kind = TargetOptionKind.Text, params string[] Aliases);
