using System.Globalization;

namespace LoopOrder.Service.Configuration;

/// <summary>Sizes as people type them: "4G", "512M", "64k", "1GiB", "1048576" (binary units).</summary>
public static class SizeText
{
    /// <summary>Parses a size in bytes.</summary>
    /// <param name="text">The size.</param>
    /// <exception cref="FormatException">Not a size.</exception>
    public static long Parse(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        string s = text.Trim();
        int shift = 0;
        string upper = s.ToUpperInvariant();
        bool found = false;
        foreach ((string suffix, int bits) in new[] { ("K", 10), ("M", 20), ("G", 30), ("T", 40) })
        {
            foreach (string form in new[] { suffix + "IB", suffix + "B", suffix })
            {
                if (!found && upper.EndsWith(form, StringComparison.Ordinal))
                {
                    shift = bits;
                    s = s[..^form.Length];
                    found = true;
                }
            }
        }

        if (!found && upper.EndsWith('B'))
        {
            s = s[..^1];
        }

        if (!long.TryParse(s, NumberStyles.None, CultureInfo.InvariantCulture, out long value) || value <= 0 || value > (long.MaxValue >> shift))
        {
            throw new FormatException($"'{text}' is not a size (examples: 4G, 512M, 1048576).");
        }

        return value << shift;
    }
}
