using System.Diagnostics.CodeAnalysis;
using System.Text;

namespace Spectrum.Capabilities;

/// <summary>
/// A validated path relative to the global tree, in canonical form: components separated by a
/// single <c>/</c>, no leading or trailing slash, no empty, <c>.</c> or <c>..</c> component, no NUL,
/// each component at most <see cref="NameMax"/> bytes and the whole at most <see cref="PathMax"/>
/// bytes of UTF-8. The tree root itself is written <c>.</c>. There is exactly one spelling of each
/// path, so equality of strings is equality of paths.
/// </summary>
public readonly record struct TreePath
{
    /// <summary>Linux NAME_MAX.</summary>
    public const int NameMax = 255;

    /// <summary>Linux PATH_MAX, including the terminating NUL the kernel counts.</summary>
    public const int PathMax = 4096;

    /// <summary>The tree root.</summary>
    public static TreePath Root { get; } = new(".");

    private TreePath(string value) => Value = value;

    /// <summary>The canonical text.</summary>
    public string Value { get; }

    /// <summary>True for the tree root.</summary>
    public bool IsRoot => Value == ".";

    /// <summary>
    /// Validates <paramref name="text"/>. Never normalizes: <c>a/./b</c> or <c>a//b</c> is an error,
    /// not <c>a/b</c>, so that what a user or token wrote is exactly what is checked.
    /// </summary>
    public static bool TryParse(string? text, [NotNullWhen(true)] out TreePath? path, out string error)
    {
        path = null;
        error = "";
        if (string.IsNullOrEmpty(text))
        {
            error = "path is empty; give a path relative to the tree, such as Documents/report.odt, or . for the whole tree";
            return false;
        }

        if (text == ".")
        {
            path = Root;
            return true;
        }

        if (text.Contains('\0', StringComparison.Ordinal))
        {
            error = "path contains a NUL byte; remove it";
            return false;
        }

        if (text[0] == '/')
        {
            error = $"path '{text}' is absolute; give it relative to the tree (without the leading /)";
            return false;
        }

        if (Encoding.UTF8.GetByteCount(text) >= PathMax)
        {
            error = $"path is longer than {PathMax - 1} bytes";
            return false;
        }

        foreach (var component in text.Split('/'))
        {
            if (component.Length == 0)
            {
                error = $"path '{text}' has an empty component (a doubled, leading or trailing /); write it without one";
                return false;
            }

            if (component is "." or "..")
            {
                error = $"path '{text}' contains '{component}'; give a plain path below the tree with no . or .. components";
                return false;
            }

            if (Encoding.UTF8.GetByteCount(component) > NameMax)
            {
                error = $"path '{text}' has a component longer than {NameMax} bytes";
                return false;
            }
        }

        path = new TreePath(text);
        return true;
    }

    /// <summary>Parses or throws <see cref="FormatException"/> with the reason.</summary>
    public static TreePath Parse(string? text) =>
        TryParse(text, out var path, out var error) ? path.Value : throw new FormatException(error);

    /// <summary>True when this path is <paramref name="ancestor"/> or lies below it.</summary>
    public bool IsWithin(TreePath ancestor) =>
        ancestor.IsRoot
        || Value == ancestor.Value
        || (Value.Length > ancestor.Value.Length
            && Value.StartsWith(ancestor.Value, StringComparison.Ordinal)
            && Value[ancestor.Value.Length] == '/');

    /// <inheritdoc />
    public override string ToString() => Value;
}
