using System.Collections;

namespace Spectrum.Cli;

/// <summary>
/// Everything a CLI run reads from or writes to the outside world, so that tests can run the CLI
/// in-process: output streams, standard input (for <c>TOKEN = -</c>), environment and clock.
/// </summary>
public sealed class CliContext
{
    /// <summary>Creates a context; <paramref name="env"/> null means the process environment.</summary>
    public CliContext(
        TextWriter stdout,
        TextWriter stderr,
        IDictionary<string, string?>? env = null,
        TextReader? stdin = null,
        TimeProvider? time = null)
    {
        ArgumentNullException.ThrowIfNull(stdout);
        ArgumentNullException.ThrowIfNull(stderr);
        Stdout = stdout;
        Stderr = stderr;
        Env = env ?? ProcessEnvironment();
        Stdin = stdin ?? Console.In;
        Time = time ?? TimeProvider.System;
    }

    /// <summary>Command output: tables, or exactly one JSON document with <c>--json</c>.</summary>
    public TextWriter Stdout { get; }

    /// <summary>Diagnostics: one line per failure.</summary>
    public TextWriter Stderr { get; }

    /// <summary>Where <c>-</c> reads a token from.</summary>
    public TextReader Stdin { get; }

    /// <summary>The environment (SPECTRUM_SOCKET).</summary>
    public IDictionary<string, string?> Env { get; }

    /// <summary>The clock for relative expiries and offline attenuation.</summary>
    public TimeProvider Time { get; }

    /// <summary>How long to wait for the broker before reporting it unreachable.</summary>
    public TimeSpan BrokerTimeout { get; init; } = TimeSpan.FromSeconds(60);

    private static Dictionary<string, string?> ProcessEnvironment()
    {
        var env = new Dictionary<string, string?>(StringComparer.Ordinal);
        foreach (DictionaryEntry entry in Environment.GetEnvironmentVariables())
        {
            env[(string)entry.Key] = entry.Value as string;
        }

        return env;
    }
}
