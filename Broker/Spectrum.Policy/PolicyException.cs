using System.Globalization;

namespace Spectrum.Policy;

/// <summary>
/// Thrown by <see cref="PolicyLoader.Load"/> when any policy file is invalid. Carries every
/// problem found in every file, so that fixing one does not merely reveal the next. The
/// <see cref="Exception.Message"/> is the first error, formatted <c>file:line:column: message</c>,
/// followed by "(and N more)" when there are others.
/// </summary>
public sealed class PolicyException : Exception
{
    /// <summary>Creates the exception for a non-empty list of errors.</summary>
    public PolicyException(IReadOnlyList<PolicyError> errors)
        : base(Format(errors))
    {
        Errors = errors;
    }

    /// <summary>Every error, in file order, then line and column order within each file.</summary>
    public IReadOnlyList<PolicyError> Errors { get; }

    private static string Format(IReadOnlyList<PolicyError> errors)
    {
        ArgumentNullException.ThrowIfNull(errors);
        if (errors.Count == 0)
        {
            throw new ArgumentException("a PolicyException needs at least one error", nameof(errors));
        }

        return errors.Count == 1
            ? errors[0].ToString()
            : string.Create(CultureInfo.InvariantCulture, $"{errors[0]} (and {errors.Count - 1} more)");
    }
}
