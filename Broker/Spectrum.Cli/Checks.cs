using System.Globalization;
using Spectrum.Capabilities;

namespace Spectrum.Cli;

/// <summary>
/// Local validation of the arguments every Spectrum CLI takes (VM names, tree paths, rights,
/// durations), so that a typo exits 2 with the reason without a broker; the broker checks again,
/// since it trusts no client.
/// </summary>
public static class Checks
{
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
