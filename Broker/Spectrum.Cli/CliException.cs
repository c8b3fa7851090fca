namespace Spectrum.Cli;

/// <summary>Exit codes of the Spectrum CLIs (DESIGN.md, "Control API and CLI").</summary>
public static class ExitCodes
{
    public const int Ok = 0;
    public const int Refused = 1;
    public const int Usage = 2;
    public const int Unreachable = 3;
}

/// <summary>
/// A failure the user sees as one stderr line, <c>TOOL: CAUSE; FIX</c>, and an exit code.
/// Thrown from command actions; <see cref="CliApp"/> renders it.
/// </summary>
public sealed class CliException(int exitCode, string message) : Exception(message)
{
    public int ExitCode { get; } = exitCode;

    /// <summary>Bad input caught before the broker is asked: exit 2.</summary>
    public static CliException Usage(string message) => new(ExitCodes.Usage, message);

    /// <summary>The broker said no, or a check failed: exit 1.</summary>
    public static CliException Refused(string message) => new(ExitCodes.Refused, message);
}
