using System.Text.Json;
using System.Text.Json.Serialization;
using LoopOrder.Service.Configuration;

namespace LoopOrder.Service.Control;

/// <summary>What a control request asks for; on the wire, its lower-case name.</summary>
public enum ControlOp
{
    /// <summary>Add a device (<see cref="ControlRequest.Device"/>).</summary>
    [JsonStringEnumMemberName("add")]
    Add,

    /// <summary>Delete a device (<see cref="ControlRequest.Id"/>) or all.</summary>
    [JsonStringEnumMemberName("del")]
    Del,

    /// <summary>List the devices.</summary>
    [JsonStringEnumMemberName("list")]
    List,

    /// <summary>A device's counters.</summary>
    [JsonStringEnumMemberName("stats")]
    Stats,

    /// <summary>Reattach a device whose daemon died.</summary>
    [JsonStringEnumMemberName("recover")]
    Recover,

    /// <summary>Resize a device and its storage (<see cref="ControlRequest.Size"/>, <see cref="ControlRequest.AllowShrink"/>).</summary>
    [JsonStringEnumMemberName("resize")]
    Resize,

    /// <summary>Snapshot a live device (<see cref="ControlRequest.Id"/>, <see cref="ControlRequest.Name"/>, <see cref="ControlRequest.To"/>).</summary>
    [JsonStringEnumMemberName("snapshot")]
    Snapshot,

    /// <summary>A device's snapshots.</summary>
    [JsonStringEnumMemberName("snapshot-list")]
    SnapshotList,

    /// <summary>Delete a device's snapshot (<see cref="ControlRequest.Name"/>) and its file.</summary>
    [JsonStringEnumMemberName("snapshot-delete")]
    SnapshotDelete,

    /// <summary>Write a snapshot (<see cref="ControlRequest.Name"/>) out as a raw image at <see cref="ControlRequest.To"/>.</summary>
    [JsonStringEnumMemberName("snapshot-export")]
    SnapshotExport,

    /// <summary>Take snapshot <see cref="ControlRequest.Name"/> and back it up to <see cref="ControlRequest.To"/> (in full, or <see cref="ControlRequest.Since"/> an earlier one).</summary>
    [JsonStringEnumMemberName("backup")]
    Backup,

    /// <summary>A device's changed extents since snapshot <see cref="ControlRequest.Name"/> up to <see cref="ControlRequest.Until"/>.</summary>
    [JsonStringEnumMemberName("changes")]
    Changes,
}

/// <summary>A device's state, as <c>list</c> shows it; on the wire, the kernel's lower-case name.</summary>
public enum DeviceState
{
    /// <summary>A state this build does not know (a newer kernel's).</summary>
    [JsonStringEnumMemberName("unknown")]
    Unknown,

    /// <summary>UBLK_S_DEV_LIVE: served.</summary>
    [JsonStringEnumMemberName("live")]
    Live,

    /// <summary>UBLK_S_DEV_QUIESCED: its server died and the kernel holds its I/O; recover it.</summary>
    [JsonStringEnumMemberName("quiesced")]
    Quiesced,

    /// <summary>UBLK_S_DEV_DEAD: stopped, or never started.</summary>
    [JsonStringEnumMemberName("dead")]
    Dead,

    /// <summary>UBLK_S_DEV_FAIL_IO: its server died and the kernel fails its I/O.</summary>
    [JsonStringEnumMemberName("fail_io")]
    FailIo,

    /// <summary>Served by this daemon, but ended (stopped, deleted from outside, or a queue failed).</summary>
    [JsonStringEnumMemberName("ended")]
    Ended,
}

/// <summary>
/// One request on the control socket: a JSON object on one line. <c>op</c> is add, del, list,
/// stats or recover; the other fields belong to the op.
/// </summary>
public sealed class ControlRequest
{
    /// <summary>What is asked for. Required; no default.</summary>
    [JsonRequired]
    public ControlOp Op { get; set; }

    /// <summary>The device for del, stats and recover.</summary>
    public uint? Id { get; set; }

    /// <summary>del: every device.</summary>
    public bool All { get; set; }

    /// <summary>add: the device to create.</summary>
    public DeviceOptions? Device { get; set; }

    /// <summary>del: stop the device even if it is open or mounted.</summary>
    public bool Force { get; set; }

    /// <summary>resize: the new size as typed ("8G", "1048576").</summary>
    public string? Size { get; set; }

    /// <summary>resize: allow a size below the current one (the end of the device is lost).</summary>
    public bool AllowShrink { get; set; }

    /// <summary>snapshot, snapshot-delete: the snapshot's name; changes: the snapshot the changes are since.</summary>
    public string? Name { get; set; }

    /// <summary>snapshot: where its file goes; null for next to the backing file (<c>FILE.snap-NAME</c>).</summary>
    public string? To { get; set; }

    /// <summary>snapshot: "reflink", "cow" or null/"auto" (a reflink where the filesystem has them, else copy-on-write).</summary>
    public string? Kind { get; set; }

    /// <summary>backup: the earlier backed-up snapshot an incremental backup builds on; null for a full one.</summary>
    public string? Since { get; set; }

    /// <summary>changes: the later snapshot the changes run up to; null or "now" for up to now.</summary>
    public string? Until { get; set; }
}

/// <summary>The answer to one request: a JSON object on one line.</summary>
public sealed class ControlResponse
{
    /// <summary>The exit code the command should end with (0 on success).</summary>
    public int ExitCode { get; set; }

    /// <summary>What went wrong and what to do, when <see cref="ExitCode"/> is not 0.</summary>
    public string? Error { get; set; }

    /// <summary>add, del, list, recover: the devices concerned.</summary>
    public List<DeviceReport>? Devices { get; set; }

    /// <summary>stats: the device's counters.</summary>
    public DeviceStatistics? Stats { get; set; }

    /// <summary>snapshot, snapshot-list, snapshot-delete: the snapshots concerned.</summary>
    public List<SnapshotRecord>? Snapshots { get; set; }

    /// <summary>backup: what was written (the manifest's contents).</summary>
    public BackupReport? Backup { get; set; }

    /// <summary>snapshot-export: what was written.</summary>
    public SnapshotExport? Export { get; set; }

    /// <summary>changes: the changed extents, in order, coalesced.</summary>
    public List<ChangedExtent>? Extents { get; set; }

    /// <summary>A failure response.</summary>
    /// <param name="e">The failure.</param>
    public static ControlResponse Failed(ServiceException e) => new() { ExitCode = e.ExitCode, Error = e.Message };
}

/// <summary>One device, as <c>list</c> shows it.</summary>
public sealed class DeviceReport
{
    /// <summary>N of /dev/ublkbN.</summary>
    public uint Id { get; set; }

    /// <summary>/dev/ublkbN.</summary>
    public string BlockDevice { get; set; } = "";

    /// <summary>The device's target (file, memory, nbd, rbd); null when the kernel has the device but no record of it.</summary>
    public string? Target { get; set; }

    /// <summary>What the device serves, as its target describes it (a file's path, "memory"); null without a record.</summary>
    public string? Serves { get; set; }

    /// <summary>The file target's backing file; null for other targets and without a record.</summary>
    public string? File { get; set; }

    /// <summary>Capacity in bytes.</summary>
    public long SizeBytes { get; set; }

    /// <summary>Queues.</summary>
    public int Queues { get; set; }

    /// <summary>Tags per queue.</summary>
    public int Depth { get; set; }

    /// <summary>drain, strict or none; null when unknown.</summary>
    public string? Ordering { get; set; }

    /// <summary>The target's cache bypassed (a file: O_DIRECT).</summary>
    public bool DirectIo { get; set; }

    /// <summary>Logical block size.</summary>
    public int BlockSize { get; set; }

    /// <summary>Read-only disk.</summary>
    public bool ReadOnly { get; set; }

    /// <summary>live, quiesced (its server died: recover it), dead, fail_io, or ended.</summary>
    public DeviceState State { get; set; } = DeviceState.Live;

    /// <summary>The serving process.</summary>
    public int Pid { get; set; }

    /// <summary>The negotiated UBLK_F_* flags.</summary>
    public string? Flags { get; set; }
}

/// <summary>stats: a device's counters.</summary>
public sealed class DeviceStatistics
{
    /// <summary>The device.</summary>
    public uint Id { get; set; }

    /// <summary>/dev/ublkbN.</summary>
    public string BlockDevice { get; set; } = "";

    /// <summary>Per queue.</summary>
    public List<QueueReport> Queues { get; set; } = [];

    /// <summary>All queues together.</summary>
    public QueueReport Total { get; set; } = new();

    /// <summary>Flushes the engine completed (including the daemon's own).</summary>
    public long EngineFlushes { get; set; }

    /// <summary>Syncs (fdatasync) the engine ran; one may answer several flushes.</summary>
    public long EngineSyncs { get; set; }

    /// <summary>The most syncs that ran at the same time.</summary>
    public int PeakSyncsInFlight { get; set; }

    /// <summary>Total time flushes waited for earlier writes to land before their fdatasync, in milliseconds.</summary>
    public double FlushWaitForWritesMs { get; set; }

    /// <summary>Total time flushes whose earlier writes had landed waited on other syncs (to start theirs, or for an earlier one to end), in milliseconds.</summary>
    public double FlushWaitBehindSyncsMs { get; set; }

    /// <summary>Total time flushes spent with their own sync running, in milliseconds.</summary>
    public double FlushInSyncMs { get; set; }

    /// <summary>Total time the syncs ran, each once, in milliseconds.</summary>
    public double SyncMs { get; set; }
}

/// <summary>One queue's counters (or the total).</summary>
public sealed class QueueReport
{
    /// <summary>The queue; -1 for the total.</summary>
    public int Queue { get; set; } = -1;

    /// <summary>Reads completed.</summary>
    public long Reads { get; set; }

    /// <summary>Writes completed.</summary>
    public long Writes { get; set; }

    /// <summary>Flushes completed.</summary>
    public long Flushes { get; set; }

    /// <summary>Discards and write-zeroes completed.</summary>
    public long Discards { get; set; }

    /// <summary>Requests that failed.</summary>
    public long Errors { get; set; }

    /// <summary>Bytes read.</summary>
    public long BytesRead { get; set; }

    /// <summary>Bytes written.</summary>
    public long BytesWritten { get; set; }

    /// <summary>Requests in the engine now.</summary>
    public int InFlight { get; set; }

    /// <summary>Flush latency percentiles in microseconds (upper bounds of ~19%-wide buckets); null with no flushes.</summary>
    public double? FlushP50Us { get; set; }

    /// <summary>90th percentile.</summary>
    public double? FlushP90Us { get; set; }

    /// <summary>99th percentile.</summary>
    public double? FlushP99Us { get; set; }

    /// <summary>99.9th percentile.</summary>
    public double? FlushP999Us { get; set; }
}

/// <summary>The device record kept under /run/loop-order/devices/&lt;id&gt;.json to reattach after a crash.</summary>
public sealed class DeviceRecord
{
    /// <summary>The device number.</summary>
    public uint Id { get; set; }

    /// <summary>
    /// The options it was added with, normalised: the target's name and its option values (a
    /// file absolute) are what a restarted daemon needs to reattach it. A record written before
    /// targets existed has no target (so: file) and its file at the top; it reads the same.
    /// </summary>
    public DeviceOptions Options { get; set; } = new();

    /// <summary>The device's snapshots (loop-order snapshot), oldest first; null for none. Kept so that a restarted daemon still lists and deletes them.</summary>
    public List<SnapshotRecord>? Snapshots { get; set; }
}

/// <summary>One snapshot of a device, as <c>snapshot list</c> shows it and the device record keeps it.</summary>
public sealed class SnapshotRecord
{
    /// <summary>Its name, unique per device.</summary>
    public string Name { get; set; } = "";

    /// <summary>The snapshot's file (absolute).</summary>
    public string Path { get; set; } = "";

    /// <summary>
    /// How it was made: "reflink" (<see cref="Path"/> is a FICLONE of the backing file, an image
    /// itself) or "cow" (<see cref="Path"/> is a copy-on-write store that keeps the chunks
    /// overwritten since: <c>loop-order snapshot export</c> makes an image of it).
    /// </summary>
    public string Kind { get; set; } = "reflink";

    /// <summary>Its size in bytes (the backing file's, or the device's for "cow", at the cut).</summary>
    public long Bytes { get; set; }

    /// <summary>"cow": bytes of the store now (header and preserved chunks); null for a reflink.</summary>
    public long? StoreBytes { get; set; }

    /// <summary>"cow": true once its store failed to keep a chunk (out of space, an I/O error): it is no snapshot any more; delete it.</summary>
    public bool? Invalid { get; set; }

    /// <summary>When it was cut (UTC, ISO 8601).</summary>
    public DateTimeOffset Created { get; set; }

    /// <summary>The barrier's place in the device's receive order (since the daemon started serving it).</summary>
    public long Barrier { get; set; }

    /// <summary>How long writes were held (placing the barrier to releasing them), in milliseconds.</summary>
    public double WritesHeldMs { get; set; }

    /// <summary>Of that, waiting for earlier writes to land and the backing file's fdatasync, in milliseconds.</summary>
    public double DrainMs { get; set; }

    /// <summary>Of that, the cut (the reflink), in milliseconds.</summary>
    public double CutMs { get; set; }

    /// <summary>The backup written of this snapshot by <c>loop-order backup</c> (a qcow2), or null: an incremental backup since it builds on it.</summary>
    public string? Backup { get; set; }

    /// <summary>
    /// With changed-block tracking: the tracking generation the snapshot's barrier closed (every
    /// write received before it is in that generation or an earlier one). Null without tracking:
    /// <c>loop-order changes</c> cannot start from such a snapshot.
    /// </summary>
    public ulong? Generation { get; set; }
}

/// <summary>What <c>loop-order snapshot export</c> wrote.</summary>
public sealed class SnapshotExport
{
    /// <summary>The snapshot.</summary>
    public string Name { get; set; } = "";

    /// <summary>The raw image written (absolute).</summary>
    public string Path { get; set; } = "";

    /// <summary>Its size in bytes.</summary>
    public long Bytes { get; set; }

    /// <summary>Bytes of it written with data (all-zero chunks are left as holes).</summary>
    public long DataBytes { get; set; }

    /// <summary>How: "reflink" (FICLONE of a reflink snapshot), "copy" or "cow" (chunks from the store and the live file).</summary>
    public string Method { get; set; } = "";

    /// <summary>How long it took, in milliseconds.</summary>
    public double Ms { get; set; }
}

/// <summary>What <c>loop-order backup</c> wrote; also its manifest, <c>FILE.json</c> next to the image.</summary>
public sealed class BackupReport
{
    /// <summary>The device.</summary>
    public uint Device { get; set; }

    /// <summary>The snapshot backed up (taken by the backup).</summary>
    public string Snapshot { get; set; } = "";

    /// <summary>The earlier snapshot an incremental backup holds the changes since; null for a full one.</summary>
    public string? Since { get; set; }

    /// <summary>The qcow2 image written (absolute).</summary>
    public string Path { get; set; } = "";

    /// <summary>Its qcow2 backing file (the backup of <see cref="Since"/>); null for a full one.</summary>
    public string? BackingFile { get; set; }

    /// <summary>The snapshot's size: the virtual size of the image.</summary>
    public long Bytes { get; set; }

    /// <summary>Bytes of the extents written (all of it for a full backup).</summary>
    public long ChangedBytes { get; set; }

    /// <summary>The extents written, in order.</summary>
    public List<ChangedExtent> Extents { get; set; } = [];

    /// <summary>The image file's size on disk.</summary>
    public long ImageBytes { get; set; }

    /// <summary>How long the snapshot held writes, in milliseconds.</summary>
    public double WritesHeldMs { get; set; }

    /// <summary>How long the backup took, in milliseconds.</summary>
    public double Ms { get; set; }

    /// <summary>When the snapshot was cut.</summary>
    public DateTimeOffset Created { get; set; }
}

/// <summary>Source-generated JSON for the control protocol and the records: camelCase, enums as strings, one line.</summary>
[JsonSourceGenerationOptions(
    JsonSerializerDefaults.Web,
    UseStringEnumConverter = true,
    DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    WriteIndented = false)]
[JsonSerializable(typeof(ControlRequest))]
[JsonSerializable(typeof(ControlResponse))]
[JsonSerializable(typeof(DeviceRecord))]
[JsonSerializable(typeof(DeviceReport))]
[JsonSerializable(typeof(List<DeviceReport>))]
[JsonSerializable(typeof(DeviceStatistics))]
[JsonSerializable(typeof(DeviceState))]
[JsonSerializable(typeof(SnapshotRecord))]
[JsonSerializable(typeof(List<SnapshotRecord>))]
[JsonSerializable(typeof(List<ChangedExtent>))]
[JsonSerializable(typeof(SnapshotExport))]
[JsonSerializable(typeof(BackupReport))]
public sealed partial class ControlJson : JsonSerializerContext;
