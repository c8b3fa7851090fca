namespace Spectrum.Grant;

/// <summary>Exit codes of <c>spectrum-grant</c> (DESIGN.md, "Control API and CLI").</summary>
internal static class ExitCodes
{
    public const int Ok = 0;
    public const int Refused = 1;
    public const int Usage = 2;
    public const int Unreachable = 3;
}

/// <summary>
/// A failure the user sees as one stderr line, <c>spectrum-grant: CAUSE; FIX</c>, and an exit code.
/// Thrown from command actions; <see cref="Cli"/> renders it.
/// </summary>
internal sealed class CliException(int exitCode, string message) : Exception(message)
{
    public int ExitCode { get; } = exitCode;

    /// <summary>Bad input caught before the broker is asked: exit 2.</summary>
    public static CliException Usage(string message) => new(ExitCodes.Usage, message);

    /// <summary>The broker said no, or a check failed: exit 1.</summary>
    public static CliException Refused(string message) => new(ExitCodes.Refused, message);
}
