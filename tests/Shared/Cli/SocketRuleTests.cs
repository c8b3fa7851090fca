using System.Net.Sockets;

namespace Spectrum.Tests.Shared;

/// <summary>
/// The socket rules every CLI gets from Spectrum.Cli, run by each CLI's test project against its
/// own commands: <c>--socket</c>, before or after the command, beats SPECTRUM_SOCKET, which beats
/// the system socket; a socket nobody listens on is exit 3 naming it.
/// </summary>
public abstract class SocketRuleTests
{
    /// <summary>A command that needs the broker.</summary>
    protected abstract string[] Command { get; }

    /// <summary>Another one, so that the rules are not one command's.</summary>
    protected abstract string[] OtherCommand { get; }

    [Fact]
    public async Task SocketFileWithNobodyListening_ExitsThreeNamingTheSocket()
    {
        var dir = Directory.CreateTempSubdirectory($"{CliRun.Tool}-dead-");
        try
        {
            var socket = Path.Combine(dir.FullName, "broker.sock");
            // Bound but never listening: the socket file exists and connect() is refused.
            // (Disposing a bound socket would unlink the file, so it stays open for the test.)
            using var bound = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
            bound.Bind(new UnixDomainSocketEndPoint(socket));
            Assert.True(new FileInfo(socket).Exists || Directory.GetFileSystemEntries(dir.FullName).Length == 1);
            var line = (await CliRun.RunAsync(OtherCommand, socket: socket)).AssertFailed(3);
            Assert.Contains(socket, line, StringComparison.Ordinal);
            Assert.Contains("connection refused", line, StringComparison.Ordinal);
        }
        finally
        {
            dir.Delete(recursive: true);
        }
    }

    [Fact]
    public async Task SocketOption_AfterOrBeforeCommand_BeatsEnvironment()
    {
        var fromEnv = "/nonexistent/env/broker.sock";
        var fromOption = "/nonexistent/option/broker.sock";
        var after = (await CliRun.RunAsync([.. Command, "--socket", fromOption], socket: fromEnv)).AssertFailed(3);
        var before = (await CliRun.RunAsync(["--socket", fromOption, .. OtherCommand], socket: fromEnv)).AssertFailed(3);
        Assert.Contains(fromOption, after, StringComparison.Ordinal);
        Assert.Contains(fromOption, before, StringComparison.Ordinal);
    }

    [Fact]
    public async Task NoSocketOption_UsesSpectrumSocketVariable()
    {
        var line = (await CliRun.RunAsync([.. OtherCommand, "--json"], socket: "/nonexistent/env/broker.sock")).AssertFailed(3);
        Assert.Contains("/nonexistent/env/broker.sock", line, StringComparison.Ordinal);
    }

    [Fact]
    public async Task NothingConfigured_FallsBackToTheSystemSocket()
    {
        var run = await CliRun.RunAsync(Command, env: new Dictionary<string, string?>());
        if (File.Exists("/run/spectrum/broker.sock"))
        {
            return; // a broker is installed on this machine; do not assert on it
        }

        Assert.Contains("/run/spectrum/broker.sock", run.AssertFailed(3), StringComparison.Ordinal);
    }
}
