using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using LoopOrder.Verification;

namespace LoopOrder.Service.Commands;

/// <summary>
/// <c>loop-order crash-images --trace DIR --count N --out DIR [--seed S] [--check CMD [--jobs J]]</c>: from a
/// trace recorded with <c>serve --testing --record-trace DIR</c>, renders N crash images by the
/// power-cut model (what the page cache and disk could hold after a power cut at a sampled
/// instant), audits each against the contract, and optionally runs CMD on each
/// (<c>CMD IMAGE CLOCK NANOSECONDS INDEX</c>; a non-zero exit is a failed image). Ends with
/// <c>crash-images: mode M, N images, V contract violations, F failed checks, seed S</c>; exit 1
/// when V or F is non-zero, 66 when the trace cannot be read. Needs no kernel.
/// </summary>
public static class CrashImagesCommand
{
    /// <summary>Failed images kept on disk for a look; later ones are deleted like passed ones.</summary>
    private const int KeptFailures = 3;

    /// <summary>Builds the <c>crash-images</c> subcommand.</summary>
    public static Command Create()
    {
        var trace = new Option<DirectoryInfo>("--trace", "-t") { Description = "The directory serve --testing --record-trace wrote. Required.", Required = true };
        var count = new Option<int>("--count", "-n") { Description = "Crash images to render. Default: 100.", DefaultValueFactory = _ => 100 };
        var seed = new Option<int>("--seed", "-s") { Description = "Seed of the sampled clocks and sector choices. Default: 1.", DefaultValueFactory = _ => 1 };
        var output = new Option<DirectoryInfo>("--out", "-o") { Description = "Where the images go (created). Required.", Required = true };
        var atomic = new Option<int>("--atomic-block") { Description = $"Bytes a power cut never tears (aligned, between writes that covered them alike): the device's physical block size, which Linux takes as its atomic write unit. 512 tears every sector. Default: {CrashImageRenderer.DefaultAtomicBytes}.", DefaultValueFactory = _ => CrashImageRenderer.DefaultAtomicBytes };
        var jobs = new Option<int>("--jobs", "-j") { Description = "Checks run at once (each on its own image). Default: 1.", DefaultValueFactory = _ => 1 };
        var check = new Option<FileInfo?>("--check") { Description = "A program run on each image as CHECK IMAGE CLOCK NANOSECONDS INDEX (exit 0: the image is good); an image that passes is deleted. Default: none; every image is kept." };
        var command = new Command("crash-images", "Render crash images of a recorded trace by the power-cut model, audit each against the contract, and check each with a program (test tooling; no kernel needed).")
        {
            trace, count, seed, output, check, jobs, atomic,
        };
        command.SetAction(parse => Run(
            parse.GetValue(trace)!.FullName, parse.GetValue(count), parse.GetValue(seed), parse.GetValue(output)!.FullName,
            parse.GetValue(check)?.FullName, parse.GetValue(jobs), parse.GetValue(atomic), parse.InvocationConfiguration.Output, parse.InvocationConfiguration.Error));
        return command;
    }

    /// <summary>Renders and checks; returns the exit code.</summary>
    /// <param name="traceDirectory">The recorded trace.</param>
    /// <param name="count">Images.</param>
    /// <param name="seed">Seed.</param>
    /// <param name="outDirectory">Where images go.</param>
    /// <param name="check">The check program, or null.</param>
    /// <param name="jobs">Checks run at once.</param>
    /// <param name="atomicBytes">The block a power cut does not tear.</param>
    /// <param name="output">Gets one line per image and the summary.</param>
    /// <param name="error">Gets messages for a human.</param>
    public static int Run(string traceDirectory, int count, int seed, string outDirectory, string? check, int jobs, int atomicBytes, TextWriter output, TextWriter error)
    {
        ArgumentNullException.ThrowIfNull(output);
        ArgumentNullException.ThrowIfNull(error);
        // Checked here, not by an option validator: a validator reading an unparsable value throws.
        if (count < 1 || jobs < 1)
        {
            error.WriteLine($"loop-order crash-images: {(count < 1 ? "--count" : "--jobs")} must be at least 1.");
            return ExitCodes.Usage;
        }

        if (atomicBytes < 512 || atomicBytes > (1 << 20) || !int.IsPow2(atomicBytes))
        {
            error.WriteLine($"loop-order crash-images: --atomic-block {atomicBytes} is not a power of two from 512 to 1048576.");
            return ExitCodes.Usage;
        }

        if (check is not null && !File.Exists(check))
        {
            error.WriteLine($"loop-order crash-images: --check {check} does not exist.");
            return ExitCodes.Usage;
        }

        RecordedTrace recorded;
        try
        {
            recorded = TraceFile.Load(traceDirectory);
        }
        catch (Exception e) when (e is IOException or InvalidDataException or UnauthorizedAccessException)
        {
            error.WriteLine($"loop-order crash-images: cannot read the trace in {traceDirectory}: {e.Message}");
            return ExitCodes.NoInput;
        }

        CultureInfo c = CultureInfo.InvariantCulture;
        string mode = recorded.Mode.ToString().ToLowerInvariant();
        Directory.CreateDirectory(outDirectory);
        var random = new Random(seed);
        long violations = 0;
        int failed = 0;
        using var renderer = new CrashImageRenderer(recorded, atomicBytes);
        output.WriteLine(string.Create(c,
            $"crash-images: trace of {recorded.Recorder.Requests.Count} requests, {renderer.Model.LastClock} events, mode {mode}; rendering {count} images ({atomicBytes}-byte blocks untorn), seed {seed}"));
        long[] clocks = renderer.ChooseClocks(count, random);

        // Checks run as separate processes, up to `jobs` at once, while the next image renders;
        // their lines are printed in image order.
        var running = new Queue<(Process? Check, string Path, CrashImage Image, int Index, double RenderMs)>();
        void Finish()
        {
            (Process? process, string path, CrashImage image, int index, double renderMs) = running.Dequeue();
            int rc = 0;
            if (process is not null)
            {
                process.WaitForExit();
                rc = process.ExitCode;
                process.Dispose();
                if (rc != 0)
                {
                    failed++;
                }

                if (rc == 0 || failed > KeptFailures)
                {
                    File.Delete(path);
                }
            }

            output.WriteLine(string.Create(c,
                $"image {index} e{image.Clock} t={image.Nanoseconds}ns: {image.SectorsFromWrites} sectors from writes, {image.Violations} contract violations{(process is null ? $", {path}" : $", check exit {rc}")}, rendered in {renderMs:F0} ms"));
            output.Flush();
        }

        for (int i = 0; i < count; i++)
        {
            string path = Path.Combine(outDirectory, string.Create(c, $"crash-{i:D4}-e{clocks[i]}.img"));
            long started = Stopwatch.GetTimestamp();
            CrashImage image = renderer.Render(clocks[i], random, path);
            double renderMs = Stopwatch.GetElapsedTime(started).TotalMilliseconds;
            violations += image.Violations;
            running.Enqueue((check is null ? null : StartCheck(check, path, image, i), path, image, i, renderMs));
            while (running.Count >= jobs)
            {
                Finish();
            }
        }

        while (running.Count > 0)
        {
            Finish();
        }

        output.WriteLine(string.Create(c, $"crash-images: mode {mode}, {count} images, {violations} contract violations, {failed} failed checks, seed {seed}"));
        return violations > 0 || failed > 0 ? 1 : 0;
    }

    private static Process StartCheck(string check, string path, CrashImage image, int index)
    {
        var start = new ProcessStartInfo(check) { UseShellExecute = false };
        start.ArgumentList.Add(path);
        start.ArgumentList.Add(image.Clock.ToString(CultureInfo.InvariantCulture));
        start.ArgumentList.Add(image.Nanoseconds.ToString(CultureInfo.InvariantCulture));
        start.ArgumentList.Add(index.ToString(CultureInfo.InvariantCulture));
        return Process.Start(start) ?? throw new InvalidOperationException($"{check} did not start");
    }
}
