using System.Diagnostics.CodeAnalysis;
using Spectrum.Capabilities;

namespace Spectrum.Policy;

/// <summary>
/// A glob over tree paths, as written in <c>[portal] allow/deny</c> and <c>audit --path</c>.
/// Components are separated by <c>/</c>; <c>**</c> as a whole component matches any number of
/// components, including zero (so <c>Documents/**</c> matches <c>Documents</c> itself);
/// <c>*</c> matches any run of characters within one component and <c>?</c> exactly one
/// character. Both match a leading dot: <c>**</c> really means everything, and dotfiles are
/// kept out with an explicit deny such as <c>.ssh/**</c>. Everything else is literal and
/// case-sensitive. Brackets, braces and backslashes are refused rather than taken literally, so
/// that a pattern written for a richer glob dialect cannot silently match nothing.
/// </summary>
public sealed class PathGlob : IEquatable<PathGlob>
{
    private const string DoubleStar = "**";

    private readonly string[] segments;

    private PathGlob(string pattern, string[] segments)
    {
        Pattern = pattern;
        this.segments = segments;
    }

    /// <summary>The pattern as written.</summary>
    public string Pattern { get; }

    /// <summary>Checks the syntax of <paramref name="pattern"/>; on failure <paramref name="error"/> says why.</summary>
    public static bool TryParse(string? pattern, [NotNullWhen(true)] out PathGlob? glob, out string error)
    {
        glob = null;
        error = "";
        if (string.IsNullOrEmpty(pattern))
        {
            error = "glob is empty; write a pattern relative to the tree, such as Documents/** or **";
            return false;
        }

        if (pattern[0] == '/')
        {
            error = $"glob '{pattern}' is absolute; write it relative to the tree (without the leading /)";
            return false;
        }

        foreach (var c in pattern)
        {
            if (c is '[' or ']' or '{' or '}' or '\\' or '\0')
            {
                var shown = c == '\0' ? "NUL" : c.ToString();
                error = $"glob '{pattern}' contains '{shown}'; only *, ** and ? are special and '{shown}' is not supported";
                return false;
            }
        }

        var parts = pattern.Split('/');
        foreach (var part in parts)
        {
            if (part.Length == 0)
            {
                error = $"glob '{pattern}' has an empty component (a doubled or trailing /); write it without one";
                return false;
            }

            if (part is "." or "..")
            {
                error = $"glob '{pattern}' contains '{part}'; globs name paths below the tree, with no . or .. components";
                return false;
            }

            if (part != DoubleStar && part.Contains(DoubleStar, StringComparison.Ordinal))
            {
                error = $"glob '{pattern}': '**' must be a whole component (as in a/**/b); use * within a name";
                return false;
            }
        }

        glob = new PathGlob(pattern, parts);
        return true;
    }

    /// <summary>Parses or throws <see cref="FormatException"/> with the reason.</summary>
    public static PathGlob Parse(string? pattern) =>
        TryParse(pattern, out var glob, out var error) ? glob : throw new FormatException(error);

    /// <summary>True when <paramref name="path"/> matches the whole pattern. The root (<c>.</c>) has no components.</summary>
    public bool IsMatch(TreePath path)
    {
        var states = Run(path);
        return states[segments.Length];
    }

    /// <summary>
    /// True when <paramref name="directory"/> or some path below it could match: used to refuse
    /// handing out a directory that contains a denied path.
    /// </summary>
    public bool CouldMatchAtOrBelow(TreePath directory)
    {
        // Any surviving state can be completed: every segment is matched by some name.
        var states = Run(directory);
        return Array.IndexOf(states, true) >= 0;
    }

    /// <summary>
    /// Simulates the pattern as an NFA over path components: state i means "segments before i
    /// are matched". Polynomial in pattern and path length, whatever the number of <c>**</c>.
    /// </summary>
    private bool[] Run(TreePath path)
    {
        var states = new bool[segments.Length + 1];
        states[0] = true;
        Close(states);
        if (path.IsRoot)
        {
            return states;
        }

        var next = new bool[segments.Length + 1];
        foreach (var component in path.Value.Split('/'))
        {
            Array.Clear(next);
            for (var i = 0; i < segments.Length; i++)
            {
                if (!states[i])
                {
                    continue;
                }

                if (segments[i] == DoubleStar)
                {
                    next[i] = true;
                }
                else if (MatchComponent(segments[i], component))
                {
                    next[i + 1] = true;
                }
            }

            Close(next);
            (states, next) = (next, states);
        }

        return states;
    }

    /// <summary>A <c>**</c> may match zero components: reaching it also reaches the segment after it.</summary>
    private void Close(bool[] states)
    {
        for (var i = 0; i < segments.Length; i++)
        {
            if (states[i] && segments[i] == DoubleStar)
            {
                states[i + 1] = true;
            }
        }
    }

    /// <summary>Wildcard match of one component: <c>*</c> any run, <c>?</c> one character (a surrogate pair counts as one).</summary>
    private static bool MatchComponent(string pattern, string text)
    {
        int p = 0, t = 0, starP = -1, starT = 0;
        while (t < text.Length)
        {
            if (p < pattern.Length && pattern[p] == '?')
            {
                t += CharWidth(text, t);
                p++;
            }
            else if (p < pattern.Length && pattern[p] == '*')
            {
                starP = p++;
                starT = t;
            }
            else if (p < pattern.Length && pattern[p] == text[t])
            {
                p++;
                t++;
            }
            else if (starP >= 0)
            {
                p = starP + 1;
                starT += CharWidth(text, starT);
                t = starT;
            }
            else
            {
                return false;
            }
        }

        while (p < pattern.Length && pattern[p] == '*')
        {
            p++;
        }

        return p == pattern.Length;
    }

    private static int CharWidth(string text, int index) =>
        char.IsHighSurrogate(text[index]) && index + 1 < text.Length && char.IsLowSurrogate(text[index + 1]) ? 2 : 1;

    /// <inheritdoc />
    public bool Equals(PathGlob? other) => other is not null && Pattern == other.Pattern;

    /// <inheritdoc />
    public override bool Equals(object? obj) => Equals(obj as PathGlob);

    /// <inheritdoc />
    public override int GetHashCode() => StringComparer.Ordinal.GetHashCode(Pattern);

    /// <summary>The pattern as written.</summary>
    public override string ToString() => Pattern;
}
