using System.Net.Sockets;

namespace Spectrum.Grant.Tests;

/// <summary>No broker: exit 3, and the line names the socket tried and how to start one.</summary>
public class UnreachableTests
{
    [Fact]
    public async Task List_SocketDoesNotExist_ExitsThreeNamingTheSocket()
    {
        var socket = Path.Combine(Path.GetTempPath(), $"spectrum-grant-missing-{Guid.NewGuid():n}.sock");
        var line = (await CliRun.RunAsync(["list", "--socket", socket])).AssertFailed(3);
        Assert.Contains(socket, line, StringComparison.Ordinal);
        Assert.Contains("spectrum-broker", line, StringComparison.Ordinal);
    }

    [Fact]
    public async Task List_SocketFileWithNobodyListening_ExitsThreeNamingTheSocket()
    {
        var dir = Directory.CreateTempSubdirectory("spectrum-grant-dead-");
        try
        {
            var socket = Path.Combine(dir.FullName, "broker.sock");
            // Bound but never listening: the socket file exists and connect() is refused.
            // (Disposing a bound socket would unlink the file, so it stays open for the test.)
            using var bound = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
            bound.Bind(new UnixDomainSocketEndPoint(socket));
            Assert.True(new FileInfo(socket).Exists || Directory.GetFileSystemEntries(dir.FullName).Length == 1);
            var line = (await CliRun.RunAsync(["status"], socket: socket)).AssertFailed(3);
            Assert.Contains(socket, line, StringComparison.Ordinal);
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
        var after = (await CliRun.RunAsync(["vm", "list", "--socket", fromOption], socket: fromEnv)).AssertFailed(3);
        var before = (await CliRun.RunAsync(["--socket", fromOption, "vm", "list"], socket: fromEnv)).AssertFailed(3);
        Assert.Contains(fromOption, after, StringComparison.Ordinal);
        Assert.Contains(fromOption, before, StringComparison.Ordinal);
    }

    [Fact]
    public async Task NoSocketOption_UsesSpectrumSocketVariable()
    {
        var line = (await CliRun.RunAsync(["audit", "verify"], socket: "/nonexistent/env/broker.sock")).AssertFailed(3);
        Assert.Contains("/nonexistent/env/broker.sock", line, StringComparison.Ordinal);
    }

    [Fact]
    public async Task NothingConfigured_FallsBackToTheSystemSocket()
    {
        var run = await CliRun.RunAsync(["list"], env: new Dictionary<string, string?>());
        if (File.Exists("/run/spectrum/broker.sock"))
        {
            return; // a broker is installed on this machine; do not assert on it
        }

        Assert.Contains("/run/spectrum/broker.sock", run.AssertFailed(3), StringComparison.Ordinal);
    }
}
