using System.Globalization;

namespace Spectrum.Grant;

/// <summary>How values read in human mode: UTC times independent of the local zone, relative expiries.</summary>
internal static class Text
{
    /// <summary><c>2025-01-31 12:00:00Z</c>.</summary>
    public static string Time(DateTimeOffset time) =>
        time.UtcDateTime.ToString("yyyy-MM-dd HH:mm:ss'Z'", CultureInfo.InvariantCulture);

    public static string? Time(DateTimeOffset? time) => time is { } t ? Time(t) : null;

    /// <summary><c>2025-01-31 12:00:00Z (in 7h59m)</c>, or <c>never</c>.</summary>
    public static string Expiry(DateTimeOffset? expires, DateTimeOffset now) =>
        expires is { } e ? $"{Time(e)} ({Relative(e, now)})" : "never";

    /// <summary><c>in 7h59m</c>, <c>3m ago</c>, <c>now</c>: the two largest units, truncated.</summary>
    public static string Relative(DateTimeOffset time, DateTimeOffset now)
    {
        var delta = time - now;
        var past = delta < TimeSpan.Zero;
        var seconds = (long)Math.Abs(delta.TotalSeconds);
        if (seconds == 0)
        {
            return "now";
        }

        var text = seconds switch
        {
            >= 86400 => Two(seconds / 86400, 'd', seconds % 86400 / 3600, 'h'),
            >= 3600 => Two(seconds / 3600, 'h', seconds % 3600 / 60, 'm'),
            >= 60 => Two(seconds / 60, 'm', seconds % 60, 's'),
            _ => string.Create(CultureInfo.InvariantCulture, $"{seconds}s"),
        };
        return past ? text + " ago" : "in " + text;
    }

    private static string Two(long major, char majorUnit, long minor, char minorUnit) =>
        minor == 0
            ? string.Create(CultureInfo.InvariantCulture, $"{major}{majorUnit}")
            : string.Create(CultureInfo.InvariantCulture, $"{major}{majorUnit}{minor}{minorUnit}");

    public static string YesNo(bool value) => value ? "yes" : "no";

    public static string Count(long n, string singular, string plural) =>
        string.Create(CultureInfo.InvariantCulture, $"{n} {(n == 1 ? singular : plural)}");
}
