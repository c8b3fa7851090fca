using System.Globalization;

namespace Spectrum.Policy;

/// <summary>
/// One problem found in a policy file, at a 1-based line and column. Problems that belong to a
/// whole file or directory (a bad file name, a missing directory) have <see cref="Line"/> and
/// <see cref="Column"/> 0.
/// </summary>
/// <param name="File">The file (or directory) as reached from the directory passed to the loader.</param>
/// <param name="Line">1-based line, or 0 when the problem is not at a position.</param>
/// <param name="Column">1-based column, or 0 when the problem is not at a position.</param>
/// <param name="Message">What is wrong and, where it is not obvious, how to fix it.</param>
public sealed record PolicyError(string File, int Line, int Column, string Message)
{
    /// <summary><c>file:line:column: message</c>, or <c>file: message</c> without a position.</summary>
    public override string ToString() =>
        Line > 0
            ? string.Create(CultureInfo.InvariantCulture, $"{File}:{Line}:{Column}: {Message}")
            : $"{File}: {Message}";
}
