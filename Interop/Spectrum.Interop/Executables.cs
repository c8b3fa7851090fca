namespace Spectrum.Interop;

/// <summary>Finding the programs the broker and the launcher run.</summary>
public static class Executables
{
    /// <summary>
    /// The full path of <paramref name="name"/>: itself when it holds a '/' (and exists), else the
    /// first match in the directories of PATH (/usr/bin:/bin when unset). Empty PATH entries are
    /// skipped rather than taken as the working directory: a root daemon never runs a program
    /// from wherever it was started. Null when there is none.
    /// </summary>
    public static string? Find(string name)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        if (name.Contains('/', StringComparison.Ordinal))
        {
            return File.Exists(name) ? name : null;
        }

        foreach (var dir in (Environment.GetEnvironmentVariable("PATH") ?? "/usr/bin:/bin").Split(':', StringSplitOptions.RemoveEmptyEntries))
        {
            var candidate = Path.Combine(dir, name);
            if (File.Exists(candidate))
            {
                return candidate;
            }
        }

        return null;
    }
}
