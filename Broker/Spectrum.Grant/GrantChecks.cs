using System.Globalization;
using Spectrum.Capabilities;
using Spectrum.Cli;

namespace Spectrum.Grant;

/// <summary>
/// Local validation of the arguments only <c>spectrum-grant</c> takes (audit filters, grant and
/// revocation ids); the shared ones are in <see cref="Checks"/>.
/// </summary>
internal static class GrantChecks
{
    public const int MaxLimit = 100_000;

    /// <summary>Audit actions (DESIGN.md, "Audit").</summary>
    public static readonly IReadOnlyList<string> AuditActions =
        ["grant", "revoke", "expire", "redeem", "deny", "stale", "vm-start", "vm-stop", "policy-apply"];

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
            : throw CliException.Usage($"unknown audit action '{Checks.Printable(text)}'; use one of {string.Join(", ", AuditActions)}");

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
            $"bad time '{Checks.Printable(text)}' for {option}; give a duration ago such as 90m or 2d, or an ISO time such as 2025-01-31T12:00:00Z");
    }

    public static int Limit(string text)
    {
        if (int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var limit) && limit is >= 1 and <= MaxLimit)
        {
            return limit;
        }

        throw CliException.Usage($"bad --limit '{Checks.Printable(text)}'; give a whole number from 1 to {MaxLimit}");
    }

    /// <summary>Grant and revocation ids go into URLs; refuse what cannot be one before asking.</summary>
    public static string Id(string? text, string what)
    {
        if (string.IsNullOrWhiteSpace(text) || text.Any(c => char.IsControl(c) || char.IsWhiteSpace(c) || c == '/'))
        {
            throw CliException.Usage($"bad {what} '{Checks.Printable(text)}'; copy it from `spectrum-grant list` or the output that gave it to you");
        }

        return text;
    }
}
