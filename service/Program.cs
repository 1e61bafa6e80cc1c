using System.CommandLine;
using LoopOrder.Service.Commands;

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
    public static int Run(string[] args, TextWriter? output = null, TextWriter? error = null)
    {
        var root = new RootCommand("LoopOrder: a ublk block device backed by a file, with flushes that order every write before them.")
        {
            ServeCommand.Create(),
            VerifyCommand.Create(),
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
