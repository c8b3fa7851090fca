namespace Spectrum.Vm.Tests;

/// <summary>No broker: exit 3, and the line names the socket tried and how to start one.</summary>
public class UnreachableTests : SocketRuleTests
{
    protected override string[] Command => ["list"];

    protected override string[] OtherCommand => ["stop", "editor"];

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
}
