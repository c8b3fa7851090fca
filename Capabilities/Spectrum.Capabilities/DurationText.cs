using System.Globalization;

namespace Spectrum.Capabilities;

/// <summary>
/// Durations as users write them: a sequence of number+unit pairs, units <c>s</c>, <c>m</c>,
/// <c>h</c>, <c>d</c>, <c>w</c> (<c>90s</c>, <c>30m</c>, <c>8h</c>, <c>1h30m</c>, <c>2d</c>).
/// Zero and negative durations are refused, and so is anything over ten years.
/// </summary>
public static class DurationText
{
    /// <summary>The longest duration accepted.</summary>
    public static readonly TimeSpan Max = TimeSpan.FromDays(3653);

    public static bool TryParse(string? text, out TimeSpan duration, out string error)
    {
        duration = TimeSpan.Zero;
        error = $"bad duration '{text}'; write it like 90s, 30m, 8h, 1h30m, 2d or 1w";
        if (string.IsNullOrWhiteSpace(text))
        {
            return false;
        }

        var total = 0L;
        var i = 0;
        while (i < text.Length)
        {
            var start = i;
            while (i < text.Length && char.IsAsciiDigit(text[i]))
            {
                i++;
            }

            if (i == start || i == text.Length || i - start > 9)
            {
                return false;
            }

            var number = long.Parse(text.AsSpan(start, i - start), NumberStyles.None, CultureInfo.InvariantCulture);
            long unit = text[i] switch
            {
                's' => 1,
                'm' => 60,
                'h' => 3600,
                'd' => 86400,
                'w' => 7 * 86400,
                _ => 0,
            };
            if (unit == 0)
            {
                return false;
            }

            total += number * unit;
            if (total > (long)Max.TotalSeconds)
            {
                error = $"duration '{text}' is longer than ten years";
                return false;
            }

            i++;
        }

        if (total == 0)
        {
            error = $"duration '{text}' is zero; give a positive duration such as 8h";
            return false;
        }

        duration = TimeSpan.FromSeconds(total);
        error = "";
        return true;
    }

    public static TimeSpan Parse(string? text) =>
        TryParse(text, out var d, out var error) ? d : throw new FormatException(error);

    /// <summary>Formats as the largest units, e.g. <c>1h30m</c>.</summary>
    public static string Format(TimeSpan duration)
    {
        var s = (long)duration.TotalSeconds;
        if (s <= 0)
        {
            return "0s";
        }

        var parts = new System.Text.StringBuilder();
        foreach (var (unit, suffix) in new[] { (86400L, 'd'), (3600L, 'h'), (60L, 'm'), (1L, 's') })
        {
            if (s >= unit)
            {
                parts.Append(CultureInfo.InvariantCulture, $"{s / unit}{suffix}");
                s %= unit;
            }
        }

        return parts.ToString();
    }
}
