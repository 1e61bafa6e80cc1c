using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using LoopOrder.Interop;
using LoopOrder.Service.Control;

namespace LoopOrder.Service.Daemon;

/// <summary>
/// loop-order backup: a snapshot written as a qcow2 image, in full or as only the extents changed
/// since an earlier backed-up snapshot, on top of that backup (its qcow2 backing file). qemu's own
/// tools write the qcow2 (qemu-img, qemu-io from qemu-utils): a chain people already restore with
/// <c>qemu-img convert</c>, and no hand-written qcow2 writer to trust.
/// </summary>
public sealed partial class ServedDevice
{
    /// <summary>Largest piece one qemu-io write carries: qemu-io reads its source file whole into memory.</summary>
    private const int BackupPieceBytes = 4 << 20;

    /// <summary>qemu-io commands per run: each run opens the image once; the command line stays far below ARG_MAX.</summary>
    private const int BackupCommandsPerRun = 256;

    /// <summary>
    /// Takes snapshot <paramref name="name"/> and writes it to <paramref name="to"/> as qcow2:
    /// all of it, or (<paramref name="since"/>) only the extents changed since snapshot
    /// <paramref name="since"/>, whose backup becomes the new image's backing file. Writes the
    /// manifest <c>TO.json</c> and records the backup on the snapshot (the next increment's base).
    /// On failure nothing is left at <paramref name="to"/> (the snapshot, once taken, stays).
    /// </summary>
    public BackupReport Backup(string name, string to, string? since)
    {
        ArgumentNullException.ThrowIfNull(name);
        ArgumentNullException.ThrowIfNull(to);
        string path = Path.GetFullPath(to);
        string manifest = path + ".json";
        if (File.Exists(path) || File.Exists(manifest))
        {
            throw new ServiceException(ExitCodes.Usage, $"{(File.Exists(path) ? path : manifest)} exists; a backup never overwrites a file: give another --to, or remove it.");
        }

        SnapshotRecord? baseSnapshot = null;
        if (since is not null)
        {
            baseSnapshot = SnapshotNamed(since);
            if (baseSnapshot.Backup is not { } prior || !File.Exists(prior))
            {
                throw new ServiceException(ExitCodes.NoInput, $"snapshot {since} of device {Id} has no backup to build on{(baseSnapshot.Backup is { } gone ? $" ({gone} is gone)" : "")}; take a full one first (loop-order backup {Id} NAME --to FILE).");
            }

            _ = Engine.Tracker ?? throw new ServiceException(ExitCodes.Unavailable, $"device {Id}: {NotTracking}: an incremental backup needs the changed extents.");
            _ = GenerationOf(since);
        }

        RequireTool("qemu-img");
        RequireTool("qemu-io");
        long start = Stopwatch.GetTimestamp();
        SnapshotRecord snapshot = Snapshot(name, null, null);
        List<ChangedExtent> extents;
        try
        {
            if (baseSnapshot is null)
            {
                string raw = path + ".raw.partial";
                try
                {
                    Export(name, raw);
                    RunTool("qemu-img", ["convert", "-q", "-f", "raw", "-O", "qcow2", raw, path]);
                }
                finally
                {
                    FileDescriptor.TryUnlink(raw);
                }

                extents = [new ChangedExtent { Offset = 0, Length = snapshot.Bytes }];
            }
            else
            {
                extents = Changes(since!, name);
                RunTool("qemu-img", ["create", "-q", "-f", "qcow2", "-b", baseSnapshot.Backup!, "-F", "qcow2", path, snapshot.Bytes.ToString(CultureInfo.InvariantCulture)]);
                WriteExtents(snapshot, extents, path);
            }

            using (SafeFileDescriptor fd = FileDescriptor.Open(path, OpenFlags.ReadOnly))
            {
                FileDescriptor.DataSync(fd);
            }

            var report = new BackupReport
            {
                Device = Id,
                Snapshot = name,
                Since = since,
                Path = path,
                BackingFile = baseSnapshot?.Backup,
                Bytes = snapshot.Bytes,
                ChangedBytes = extents.Sum(e => e.Length),
                Extents = extents,
                ImageBytes = new FileInfo(path).Length,
                WritesHeldMs = snapshot.WritesHeldMs,
                Ms = Stopwatch.GetElapsedTime(start).TotalMilliseconds,
                Created = snapshot.Created,
            };
            File.WriteAllText(manifest, JsonSerializer.Serialize(report, ControlJson.Default.BackupReport) + "\n");
            snapshot.Backup = path;
            Log.BackupWritten(_logger, Id, name, path, since ?? "-", report.ChangedBytes, report.ImageBytes, report.Ms);
            return report;
        }
        catch (Exception e)
        {
            FileDescriptor.TryUnlink(path);
            FileDescriptor.TryUnlink(manifest);
            throw e as ServiceException ?? ServiceErrors.From(e);
        }
    }

    /// <summary>Writes each changed extent of <paramref name="snapshot"/> into the qcow2 at <paramref name="image"/> with qemu-io, a few MiB a piece.</summary>
    private void WriteExtents(SnapshotRecord snapshot, List<ChangedExtent> extents, string image)
    {
        string pieces = Directory.CreateTempSubdirectory("loop-order-backup-").FullName;
        try
        {
            using SnapshotReader reader = OpenReader(snapshot);
            byte[] buffer = new byte[BackupPieceBytes];
            var commands = new List<string>();
            int n = 0;
            foreach (ChangedExtent extent in extents)
            {
                for (long offset = extent.Offset; offset < extent.Offset + extent.Length; offset += BackupPieceBytes)
                {
                    int length = (int)Math.Min(BackupPieceBytes, extent.Offset + extent.Length - offset);
                    reader.Read(offset, buffer.AsSpan(0, length));
                    string piece = Path.Combine(pieces, (n++).ToString(CultureInfo.InvariantCulture));
                    File.WriteAllBytes(piece, buffer.AsSpan(0, length).ToArray());
                    commands.Add(string.Create(CultureInfo.InvariantCulture, $"write -q -s {piece} {offset} {length}"));
                    if (commands.Count == BackupCommandsPerRun)
                    {
                        RunQemuIo(image, commands);
                        Directory.Delete(pieces, recursive: true);
                        Directory.CreateDirectory(pieces);
                    }
                }
            }

            RunQemuIo(image, commands);
        }
        finally
        {
            Directory.Delete(pieces, recursive: true);
        }
    }

    private static void RunQemuIo(string image, List<string> commands)
    {
        if (commands.Count == 0)
        {
            return;
        }

        var args = new List<string> { "-f", "qcow2" };
        foreach (string c in commands)
        {
            args.Add("-c");
            args.Add(c);
        }

        args.Add(image);
        RunTool("qemu-io", args);
        commands.Clear();
    }

    /// <summary>Runs a qemu tool to its end; a failure (its exit code or anything on stderr from qemu-io, which exits 0 on failed commands) is a <see cref="ServiceException"/> (74).</summary>
    private static void RunTool(string tool, IReadOnlyList<string> args)
    {
        var info = new ProcessStartInfo(tool) { RedirectStandardError = true, RedirectStandardOutput = true, UseShellExecute = false };
        foreach (string a in args)
        {
            info.ArgumentList.Add(a);
        }

        using Process process = Process.Start(info) ?? throw new ServiceException(ExitCodes.Unavailable, $"cannot start {tool}");
        Task<string> output = process.StandardOutput.ReadToEndAsync();
        string error = process.StandardError.ReadToEnd();
        process.WaitForExit();
        string said = (output.Result + error).Trim();
        if (process.ExitCode != 0 || (tool == "qemu-io" && said.Length > 0))
        {
            throw new ServiceException(ExitCodes.IoError, $"{tool} failed (exit {process.ExitCode}): {said}");
        }
    }

    private static void RequireTool(string tool)
    {
        bool found = (Environment.GetEnvironmentVariable("PATH") ?? "/usr/bin:/bin").Split(':').Any(d => d.Length > 0 && File.Exists(Path.Combine(d, tool)));
        if (!found)
        {
            throw new ServiceException(ExitCodes.Unavailable, $"loop-order backup writes qcow2 with qemu's own tools, and {tool} is not on PATH: install qemu-utils (apt install qemu-utils).");
        }
    }
}
