using System.Globalization;
using System.Text.Json;
using LoopOrder.Service.Control;

namespace LoopOrder.Service.Daemon;

/// <summary>
/// The devices' records under <c>&lt;runtime&gt;/devices/&lt;id&gt;.json</c>: what a daemon
/// started after a crash needs to reattach each device to its file. /run is a tmpfs, so records
/// never outlive a reboot, as the devices do not.
/// </summary>
/// <param name="directory">The records' directory.</param>
public sealed class DeviceRecords(string directory)
{
    /// <summary>The records' directory.</summary>
    public string Directory { get; } = directory;

    /// <summary>Writes (atomically: temp file, fsync-free rename on tmpfs) the record of <paramref name="record"/>.</summary>
    /// <param name="record">The device and its options.</param>
    public void Save(DeviceRecord record)
    {
        ArgumentNullException.ThrowIfNull(record);
        System.IO.Directory.CreateDirectory(Directory);
        string path = PathOf(record.Id);
        string temp = path + ".tmp";
        File.WriteAllText(temp, JsonSerializer.Serialize(record, ControlJson.Default.DeviceRecord));

        // Records hold file paths; only root needs to read them.
        File.SetUnixFileMode(temp, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        File.Move(temp, path, overwrite: true);
    }

    /// <summary>Removes <paramref name="id"/>'s record, if any.</summary>
    /// <param name="id">The device.</param>
    public void Remove(uint id) => File.Delete(PathOf(id));

    /// <summary>Every readable record; unreadable ones are returned as errors, not thrown.</summary>
    public IReadOnlyList<(string Path, DeviceRecord? Record, string? Error)> Load()
    {
        var result = new List<(string, DeviceRecord?, string?)>();
        if (!System.IO.Directory.Exists(Directory))
        {
            return result;
        }

        foreach (string path in System.IO.Directory.EnumerateFiles(Directory, "*.json").Order(StringComparer.Ordinal))
        {
            try
            {
                DeviceRecord? r = JsonSerializer.Deserialize(File.ReadAllText(path), ControlJson.Default.DeviceRecord);
                result.Add(r is null ? (path, null, "empty record") : (path, r, null));
            }
            catch (Exception e) when (e is JsonException or IOException)
            {
                result.Add((path, null, e.Message));
            }
        }

        return result;
    }

    /// <summary>The record of <paramref name="id"/>, or null.</summary>
    /// <param name="id">The device.</param>
    public DeviceRecord? Find(uint id) => Load().FirstOrDefault(r => r.Record?.Id == id).Record;

    private string PathOf(uint id) => Path.Combine(Directory, id.ToString(CultureInfo.InvariantCulture) + ".json");
}
