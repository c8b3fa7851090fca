using System.Net.Sockets;

namespace Spectrum.Vm.Tests;

/// <summary>No broker: exit 3, and the line names the socket tried and how to start one.</summary>
public class UnreachableTests
{
    [Theory]
    [InlineData("run", "editor")]
    [InlineData("stop", "editor")]
    [InlineData("list")]
    [InlineData("open", "editor", "Documents")]
    public async Task EveryCommand_SocketDoesNotExist_ExitsThreeNamingTheSocket(params string[] args)
    {
        var socket = Path.Combine(Path.GetTempPath(), $"spectrum-vm-missing-{Guid.NewGuid():n}.sock");
        var line = (await CliRun.RunAsync([.. args, "--socket", socket])).AssertFailed(3);
        Assert.Contains(socket, line, StringComparison.Ordinal);
        Assert.Contains("spectrum-broker", line, StringComparison.Ordinal);
    }

    [Fact]
    public async Task SocketFileWithNobodyListening_ExitsThreeNamingTheSocket()
    {
        var dir = Directory.CreateTempSubdirectory("spectrum-vm-dead-");
        try
        {
            var socket = Path.Combine(dir.FullName, "broker.sock");
            // Bound but never listening: the socket file exists and connect() is refused.
            using var bound = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
            bound.Bind(new UnixDomainSocketEndPoint(socket));
            var line = (await CliRun.RunAsync(["run", "editor"], socket: socket)).AssertFailed(3);
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
        var after = (await CliRun.RunAsync(["list", "--socket", fromOption], socket: fromEnv)).AssertFailed(3);
        var before = (await CliRun.RunAsync(["--socket", fromOption, "stop", "editor"], socket: fromEnv)).AssertFailed(3);
        Assert.Contains(fromOption, after, StringComparison.Ordinal);
        Assert.Contains(fromOption, before, StringComparison.Ordinal);
    }

    [Fact]
    public async Task NoSocketOption_UsesSpectrumSocketVariable()
    {
        var line = (await CliRun.RunAsync(["list", "--json"], socket: "/nonexistent/env/broker.sock")).AssertFailed(3);
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
