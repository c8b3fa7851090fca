using System.Globalization;
using Spectrum.Capabilities;

namespace Spectrum.Grant;

/// <summary>
/// Local validation of everything the user types, so that a typo exits 2 with the reason without
/// a broker; the broker checks again, since it trusts no client.
/// </summary>
internal static class Checks
{
    public const int MaxLimit = 100_000;

    /// <summary>Audit actions (DESIGN.md, "Audit").</summary>
    public static readonly IReadOnlyList<string> AuditActions =
        ["grant", "revoke", "expire", "redeem", "deny", "stale", "vm-start", "vm-stop", "policy-apply"];

    /// <summary>VM names: <c>[a-z0-9][a-z0-9._-]{0,63}</c>.</summary>
    public static string VmName(string? text)
    {
        if (string.IsNullOrEmpty(text) || text.Length > 64 || !IsVmStart(text[0]) || !text.All(IsVmChar))
        {
            throw CliException.Usage(
                $"bad VM name '{Printable(text)}'; VM names are 1 to 64 characters of a-z, 0-9, '.', '_' or '-', starting with a letter or digit");
        }

        return text;

        static bool IsVmStart(char c) => char.IsAsciiLetterLower(c) || char.IsAsciiDigit(c);
        static bool IsVmChar(char c) => IsVmStart(c) || c is '.' or '_' or '-';
    }

    /// <summary>A path relative to the tree, with TreePath's reason when it is not one.</summary>
    public static TreePath TreePath(string? text) =>
        Spectrum.Capabilities.TreePath.TryParse(text, out var path, out var error)
            ? path.Value
            : throw CliException.Usage(error);

    public static Rights Rights(string? text) =>
        RightsText.TryParse(text, out var rights, out var error) ? rights : throw CliException.Usage(error);

    public static TimeSpan Duration(string? text, string option) =>
        DurationText.TryParse(text, out var duration, out var error)
            ? duration
            : throw CliException.Usage($"{option}: {error}");

    /// <summary>An audit path glob: relative, no NUL; the broker matches it.</summary>
    public static string Glob(string text)
    {
        if (text.Length == 0 || text.Contains('\0', StringComparison.Ordinal))
        {
            throw CliException.Usage("--path glob is empty or contains a NUL byte; give a glob relative to the tree, such as 'Documents/**'");
        }

        if (text[0] == '/')
        {
            throw CliException.Usage($"--path glob '{text}' is absolute; give it relative to the tree (without the leading /)");
        }

        return text;
    }

    public static string AuditAction(string text) =>
        AuditActions.Contains(text)
            ? text
            : throw CliException.Usage($"unknown audit action '{Printable(text)}'; use one of {string.Join(", ", AuditActions)}");

    /// <summary>
    /// <c>--since</c>/<c>--until</c>: a duration ago (<c>1h</c>) or an ISO 8601 time. The text is
    /// passed through unchanged; the broker interprets it against its own clock.
    /// </summary>
    public static string PointInTime(string text, string option)
    {
        if (DurationText.TryParse(text, out _, out _)
            || DateTimeOffset.TryParse(text, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out _))
        {
            return text;
        }

        throw CliException.Usage(
            $"bad time '{Printable(text)}' for {option}; give a duration ago such as 90m or 2d, or an ISO time such as 2025-01-31T12:00:00Z");
    }

    public static int Limit(string text)
    {
        if (int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var limit) && limit is >= 1 and <= MaxLimit)
        {
            return limit;
        }

        throw CliException.Usage($"bad --limit '{Printable(text)}'; give a whole number from 1 to {MaxLimit}");
    }

    /// <summary>Grant and revocation ids go into URLs; refuse what cannot be one before asking.</summary>
    public static string Id(string? text, string what)
    {
        if (string.IsNullOrWhiteSpace(text) || text.Any(c => char.IsControl(c) || char.IsWhiteSpace(c) || c == '/'))
        {
            throw CliException.Usage($"bad {what} '{Printable(text)}'; copy it from `spectrum-grant list` or the output that gave it to you");
        }

        return text;
    }

    /// <summary>User text echoed in an error line: control characters escaped, so the line stays one line.</summary>
    public static string Printable(string? text)
    {
        if (text is null)
        {
            return "";
        }

        var builder = new System.Text.StringBuilder(text.Length);
        foreach (var c in text)
        {
            if (char.IsControl(c))
            {
                builder.Append(CultureInfo.InvariantCulture, $"\\x{(int)c:x2}");
            }
            else
            {
                builder.Append(c);
            }
        }

        return builder.ToString();
    }
}
