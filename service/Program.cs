using System.CommandLine;
using LoopOrder.Service.Commands;
using LoopOrder.Service.Daemon;

namespace LoopOrder.Service;

/// <summary>The <c>loop-order</c> command line: a root command with one subcommand per file in Commands/.</summary>
public static class Program
{
    /// <summary>Entry point; the exit code follows sysexits.h (<see cref="ExitCodes"/>).</summary>
    /// <param name="args">The command line.</param>
    public static int Main(string[] args) => Run(args);

    /// <summary>Parses and runs <paramref name="args"/>, writing to the given writers (the console by default).</summary>
    /// <param name="args">The command line.</param>
    /// <param name="output">Standard output.</param>
    /// <param name="error">Standard error.</param>
    public static int Run(string[] args, TextWriter? output = null, TextWriter? error = null) =>
        Run(args, output, error, ServiceContext.Default);

    /// <summary>Parses and runs <paramref name="args"/> over <paramref name="context"/> (tests point it at a temporary directory and a fake kernel).</summary>
    /// <param name="args">The command line.</param>
    /// <param name="output">Standard output.</param>
    /// <param name="error">Standard error.</param>
    /// <param name="context">Where the daemon, its configuration and the kernel are.</param>
    public static int Run(string[] args, TextWriter? output, TextWriter? error, ServiceContext context)
    {
        var root = new RootCommand(
            "LoopOrder: a ublk block device served from a target (a file, or memory), with flushes that order every write before them. "
            + "The daemon (serve) listens on /run/loop-order/control.sock (or $LOOP_ORDER_RUNTIME_DIR); add, del, list, stats, recover, resize, snapshot and changes talk to it. "
            + "Exit codes: 0 ok, 64 usage, 66 unusable backing file, 69 no ublk_drv or no daemon, 71 OS error, 74 I/O error, 77 not permitted, 78 bad configuration.")
        {
            ServeCommand.Create(context),
            ClientCommands.Add(context),
            ClientCommands.Delete(context),
            ClientCommands.List(context),
            ClientCommands.Stats(context),
            ClientCommands.Recover(context),
            FeaturesCommand.Create(context),
            ResizeCommand.Create(context),
            SnapshotCommand.Create(context),
            ChangesCommand.Create(context),
            BackupCommand.Create(context),
            VerifyCommand.Create(),
            CrashImagesCommand.Create(),
        };

        ParseResult parsed = root.Parse(args);
        var config = new InvocationConfiguration
        {
            Output = output ?? Console.Out,
            Error = error ?? Console.Error,

            // Commands register their own SIGINT/SIGTERM handling: serving must drain and delete
            // the device, not be cancelled mid-way.
            ProcessTerminationTimeout = null,
        };
        if (parsed.Errors.Count > 0 && parsed.Action is not System.CommandLine.Help.HelpAction)
        {
            foreach (System.CommandLine.Parsing.ParseError e in parsed.Errors)
            {
                config.Error.WriteLine(e.Message);
            }

            config.Error.WriteLine("Try 'loop-order --help'.");
            return ExitCodes.Usage;
        }

        return parsed.Invoke(config);
    }
}
