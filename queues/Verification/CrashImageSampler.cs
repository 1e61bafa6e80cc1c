using System.Globalization;
using LoopOrder.Queues.Requests;

namespace LoopOrder.Verification;

/// <summary>
/// Turns the power-cut model's per-sector sets into whole crash images, as files, for tools that
/// need an image (fsck, a journal replayer, a diff against a snapshot): at sampled event
/// boundaries, each sector takes one of the values a crash there could leave, rendered with the
/// sector header of the write that produced it (or zeros).
/// </summary>
public static class CrashImageSampler
{
    /// <summary>The bytes of an image whose sectors hold <paramref name="values"/> (write ids, 0 for zeros).</summary>
    public static byte[] Render(IReadOnlyList<ulong> values, ulong seed)
    {
        ArgumentNullException.ThrowIfNull(values);
        var image = new byte[values.Count * BlockRequest.SectorSize];
        for (int s = 0; s < values.Count; s++)
        {
            if (values[s] != 0)
            {
                SectorHeader.Fill(image.AsSpan(s * BlockRequest.SectorSize, BlockRequest.SectorSize), seed, values[s], (ulong)s);
            }
        }

        return image;
    }

    /// <summary>
    /// Writes <paramref name="count"/> sampled crash images of the run behind <paramref name="model"/> into
    /// <paramref name="directory"/>, as <c>{prefix}-e{clock}-{n}.img</c>, at boundaries chosen with
    /// <paramref name="random"/>. Returns each file with the clock it is a crash right after.
    /// </summary>
    public static IReadOnlyList<(string Path, long Clock)> WriteImages(
        PowerCutModel model, string directory, string prefix, int count, Random random)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(random);
        Directory.CreateDirectory(directory);
        var written = new List<(string, long)>(count);
        for (int n = 0; n < count; n++)
        {
            long clock = random.NextInt64(0, model.LastClock + 1);
            ulong[] values = model.SampleImage(clock, random);
            string path = Path.Combine(directory, string.Create(CultureInfo.InvariantCulture, $"{prefix}-e{clock:D5}-{n}.img"));
            File.WriteAllBytes(path, Render(values, model.Seed));
            written.Add((path, clock));
        }

        return written;
    }

    /// <summary>
    /// Traces every sector of a crash image back to its write and returns those the contract does
    /// not allow for a crash right after <paramref name="clock"/> (empty when the image is fine).
    /// </summary>
    public static IReadOnlyList<(ulong Sector, SectorValue Value)> Audit(ReadOnlySpan<byte> image, PowerCutModel model, long clock)
    {
        ArgumentNullException.ThrowIfNull(model);
        var bad = new List<(ulong, SectorValue)>();
        ulong sectors = Math.Min(model.CapacitySectors, (ulong)(image.Length / BlockRequest.SectorSize));
        for (ulong s = 0; s < sectors; s++)
        {
            SectorValue value = SectorHeader.Decode(image.Slice((int)s * BlockRequest.SectorSize, BlockRequest.SectorSize), model.Seed, s);
            if (!model.IsAllowed(s, clock, value))
            {
                bad.Add((s, value));
            }
        }

        return bad;
    }
}
