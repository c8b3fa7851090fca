using Spectrum.Cli;

namespace Spectrum.Tests.Shared;

// Shared by the CLI test projects (linked into each by its csproj). Each project completes this
// partial record with the CLI it tests: CliRun.Tool.cs names the program and runs it.

/// <summary>The outcome of one in-process run of the CLI under test.</summary>
public sealed partial record CliRun(int ExitCode, string Stdout, string Stderr)
{
    /// <summary>Stderr split into lines, without the trailing empty one.</summary>
    public IReadOnlyList<string> StderrLines => Lines(Stderr);

    /// <summary>Stdout split into lines, without the trailing empty one.</summary>
    public IReadOnlyList<string> StdoutLines => Lines(Stdout);

    /// <summary>The program name that starts every error line (<c>spectrum-grant</c>, <c>spectrum-vm</c>).</summary>
    public static partial string Tool { get; }

    /// <summary>
    /// Runs the CLI in-process. <paramref name="socket"/> becomes SPECTRUM_SOCKET (default: a path
    /// that does not exist, so a test never reaches a broker it did not start); <paramref name="env"/>
    /// replaces the environment entirely when given; <paramref name="brokerTimeout"/> is the CLI's
    /// base wait for an answer (20 s unless given).
    /// </summary>
    public static async Task<CliRun> RunAsync(
        IEnumerable<string> args,
        string? socket = null,
        string? stdin = null,
        TimeProvider? time = null,
        IDictionary<string, string?>? env = null,
        TimeSpan? brokerTimeout = null)
    {
        env ??= new Dictionary<string, string?>
        {
            ["SPECTRUM_SOCKET"] = socket ?? Path.Combine(Path.GetTempPath(), $"{Tool}-tests-no-broker", "broker.sock"),
        };
        using var stdout = new StringWriter();
        using var stderr = new StringWriter();
        using var input = new StringReader(stdin ?? "");
        var context = new CliContext(stdout, stderr, env, input, time) { BrokerTimeout = brokerTimeout ?? TimeSpan.FromSeconds(20) };
        var exit = await InvokeAsync(args.ToArray(), context);
        return new CliRun(exit, stdout.ToString(), stderr.ToString());
    }

    /// <summary>Runs the CLI with no broker reachable.</summary>
    public static Task<CliRun> RunAsync(params string[] args) => RunAsync((IEnumerable<string>)args);

    /// <summary>Asserts the run failed with <paramref name="exitCode"/>, one stderr line and nothing on stdout; returns the line.</summary>
    public string AssertFailed(int exitCode)
    {
        Assert.True(ExitCode == exitCode, $"exit {ExitCode}, expected {exitCode}; stderr: {Stderr}; stdout: {Stdout}");
        var line = Assert.Single(StderrLines);
        Assert.StartsWith($"{Tool}: ", line, StringComparison.Ordinal);
        Assert.Contains("; ", line, StringComparison.Ordinal);
        Assert.Equal("", Stdout);
        return line;
    }

    /// <summary>Asserts exit 0 and an empty stderr.</summary>
    public void AssertOk()
    {
        Assert.True(ExitCode == 0, $"exit {ExitCode}; stderr: {Stderr}; stdout: {Stdout}");
        Assert.Equal("", Stderr);
    }

    /// <summary>Runs the CLI under test's entry point.</summary>
    private static partial Task<int> InvokeAsync(string[] args, CliContext context);

    private static string[] Lines(string text) =>
        text.Length == 0 ? [] : text.TrimEnd('\n').Split('\n');
}

/// <summary>A clock that stands still, for relative times.</summary>
public sealed class FixedClock(DateTimeOffset now) : TimeProvider
{
    public DateTimeOffset Now { get; set; } = now;

    public override DateTimeOffset GetUtcNow() => Now;
}
