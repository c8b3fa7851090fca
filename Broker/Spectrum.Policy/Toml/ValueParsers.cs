using System.Globalization;
using Spectrum.Capabilities;

namespace Spectrum.Policy.Toml;

/// <summary>Typed, validated reads shared by the broker and VM file parsers.</summary>
internal static class ValueParsers
{
    public static TimeSpan? Duration(TableReader reader, string key)
    {
        if (reader.String(key) is not var (text, pos))
        {
            return null;
        }

        if (DurationText.TryParse(text, out var duration, out var error))
        {
            return duration;
        }

        reader.Error(pos, $"'{key}' in {reader.Name}: {error}");
        return null;
    }

    public static Rights? RightsValue(TableReader reader, string key)
    {
        if (reader.String(key) is not var (text, pos))
        {
            return null;
        }

        if (RightsText.TryParse(text, out var rights, out var error))
        {
            return rights;
        }

        reader.Error(pos, $"'{key}' in {reader.Name}: {error}");
        return null;
    }

    /// <summary>An absolute host path (a string starting with <c>/</c>).</summary>
    public static (string Value, SourcePos Pos)? AbsolutePath(TableReader reader, string key)
    {
        if (reader.String(key) is not var (text, pos))
        {
            return null;
        }

        if (IsAbsolute(text, pos, reader, key))
        {
            return (text, pos);
        }

        return null;
    }

    /// <summary>
    /// A file path: absolute, or relative to <paramref name="baseDirectory"/> (the policy
    /// directory), which is resolved here so that every later use sees an absolute path.
    /// </summary>
    public static (string Value, SourcePos Pos)? FilePath(TableReader reader, string key, string baseDirectory)
    {
        if (reader.String(key) is not var (text, pos))
        {
            return null;
        }

        return ResolveFile(text, pos, reader, key, baseDirectory) is { } path ? (path, pos) : null;
    }

    /// <summary>Resolves one file path as <see cref="FilePath"/> does; reports and returns null when it is empty or holds a NUL.</summary>
    public static string? ResolveFile(string text, SourcePos pos, TableReader reader, string key, string baseDirectory)
    {
        if (text.Length == 0 || text.Contains('\0', StringComparison.Ordinal))
        {
            reader.Error(pos, $"'{key}' in {reader.Name} must be a file path, absolute or relative to the policy directory, found '{text.Replace("\0", "\\0", StringComparison.Ordinal)}'");
            return null;
        }

        return text[0] == '/' ? text : Path.GetFullPath(Path.Combine(baseDirectory, text));
    }

    public static bool IsAbsolute(string text, SourcePos pos, TableReader reader, string key)
    {
        if (text.Length > 0 && text[0] == '/' && !text.Contains('\0', StringComparison.Ordinal))
        {
            return true;
        }

        reader.Error(pos, $"'{key}' in {reader.Name} must be an absolute path (starting with /), found '{text}'");
        return false;
    }

    /// <summary>An integer within [<paramref name="min"/>, <paramref name="max"/>].</summary>
    public static int? IntegerInRange(TableReader reader, string key, int min, int max)
    {
        if (reader.Integer(key) is not var (value, pos))
        {
            return null;
        }

        if (value >= min && value <= max)
        {
            return (int)value;
        }

        reader.Error(pos, string.Create(CultureInfo.InvariantCulture, $"'{key}' in {reader.Name} must be between {min} and {max}, found {value}"));
        return null;
    }

    /// <summary>One of a fixed set of words.</summary>
    public static T? Choice<T>(TableReader reader, string key, IReadOnlyList<(string Text, T Value)> choices)
        where T : struct
    {
        if (reader.String(key) is not var (text, pos))
        {
            return null;
        }

        foreach (var (word, value) in choices)
        {
            if (word == text)
            {
                return value;
            }
        }

        reader.Error(pos, $"'{key}' in {reader.Name} must be one of {string.Join(", ", choices.Select(c => '"' + c.Text + '"'))}, found \"{text}\"");
        return null;
    }

    /// <summary>
    /// A memory size: a positive whole number followed by <c>M</c> (MiB) or <c>G</c> (GiB), such as
    /// <c>512M</c> or <c>2G</c>, at least <see cref="VmDefinition.MinMemoryBytes"/>.
    /// </summary>
    public static bool TryParseMemory(string text, out long bytes, out string error)
    {
        bytes = 0;
        error = $"memory '{text}' must be a size such as 512M or 2G (M = MiB, G = GiB)";
        if (text.Length < 2 || text.Length > 10)
        {
            return false;
        }

        var shift = text[^1] switch
        {
            'M' => 20,
            'G' => 30,
            _ => 0,
        };
        var digits = text.AsSpan(0, text.Length - 1);
        if (shift == 0 || digits[0] == '0' || !long.TryParse(digits, NumberStyles.None, CultureInfo.InvariantCulture, out var number))
        {
            return false;
        }

        if (number > VmDefinition.MaxMemoryBytes >> shift)
        {
            error = $"memory '{text}' is more than the maximum of 1024G";
            return false;
        }

        bytes = number << shift;
        if (bytes < VmDefinition.MinMemoryBytes)
        {
            error = $"memory '{text}' is less than the minimum of 64M";
            return false;
        }

        error = "";
        return true;
    }
}
