namespace Spectrum.Grant.Tests;

/// <summary>No broker: exit 3, and the line names the socket tried and how to start one.</summary>
public class UnreachableTests : SocketRuleTests
{
    protected override string[] Command => ["list"];

    protected override string[] OtherCommand => ["audit", "verify"];

    [Fact]
    public async Task List_SocketDoesNotExist_ExitsThreeNamingTheSocket()
    {
        var socket = Path.Combine(Path.GetTempPath(), $"spectrum-grant-missing-{Guid.NewGuid():n}.sock");
        var line = (await CliRun.RunAsync(["list", "--socket", socket])).AssertFailed(3);
        Assert.Contains(socket, line, StringComparison.Ordinal);
        Assert.Contains("spectrum-broker", line, StringComparison.Ordinal);
    }
}
