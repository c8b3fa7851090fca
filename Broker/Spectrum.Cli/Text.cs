using System.Globalization;
using Spectrum.Broker.Contracts;

namespace Spectrum.Cli;

/// <summary>How values read in human mode: UTC times independent of the local zone, relative expiries, spans.</summary>
public static class Text
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
        if ((long)Math.Abs(delta.TotalSeconds) == 0)
        {
            return "now";
        }

        var text = Span(delta);
        return delta < TimeSpan.Zero ? text + " ago" : "in " + text;
    }

    /// <summary><c>7h59m</c>, <c>1m30s</c>, <c>0s</c>: a length of time in its two largest units, truncated.</summary>
    public static string Span(TimeSpan span)
    {
        var seconds = (long)Math.Abs(span.TotalSeconds);
        return seconds switch
        {
            >= 86400 => Two(seconds / 86400, 'd', seconds % 86400 / 3600, 'h'),
            >= 3600 => Two(seconds / 3600, 'h', seconds % 3600 / 60, 'm'),
            >= 60 => Two(seconds / 60, 'm', seconds % 60, 's'),
            _ => string.Create(CultureInfo.InvariantCulture, $"{seconds}s"),
        };
    }

    private static string Two(long major, char majorUnit, long minor, char minorUnit) =>
        minor == 0
            ? string.Create(CultureInfo.InvariantCulture, $"{major}{majorUnit}")
            : string.Create(CultureInfo.InvariantCulture, $"{major}{majorUnit}{minor}{minorUnit}");

    /// <summary>
    /// <c>granted g_…: editor Documents rw (directory, persistent, expires never)</c>: a new grant,
    /// as <c>spectrum-grant grant</c> and <c>spectrum-vm open</c> report it.
    /// </summary>
    public static string Granted(GrantDto grant, DateTimeOffset now)
    {
        ArgumentNullException.ThrowIfNull(grant);
        return $"granted {grant.Id}: {grant.Vm} {grant.Path} {grant.Rights} ({grant.Kind}, {grant.Persistence}, expires {Expiry(grant.ExpiresAt, now)})";
    }

    public static string YesNo(bool value) => value ? "yes" : "no";

    public static string Count(long n, string singular, string plural) =>
        string.Create(CultureInfo.InvariantCulture, $"{n} {(n == 1 ? singular : plural)}");
}
