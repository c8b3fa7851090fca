using Spectrum.Broker.Contracts;
using static Spectrum.Vm.Tests.VmFixtures;

namespace Spectrum.Vm.Tests;

/// <summary>
/// Shell completion through System.CommandLine's [suggest:POSITION] directive, which dotnet-suggest
/// calls with the whole command line as one argument.
/// </summary>
public class CompletionTests
{
    [Fact]
    public async Task Suggest_CompletesCommands()
    {
        var run = await CliRun.RunAsync("[suggest:2]", "st");
        Assert.Equal(0, run.ExitCode);
        Assert.Contains("stop", run.StdoutLines);
        Assert.DoesNotContain("run", run.StdoutLines);
    }

    [Fact]
    public async Task Suggest_CompletesVmNamesFromTheBroker()
    {
        await using var broker = new FakeBroker().On("GET", "/v1/vms", 200, Json<IReadOnlyList<VmDto>>([Running, NotBootable], BrokerJson.Default.IReadOnlyListVmDto));
        var run = await CliRun.RunAsync(["[suggest:6]", "run ed"], socket: broker.SocketPath);
        Assert.Equal(0, run.ExitCode);
        Assert.Equal(["editor"], run.StdoutLines);
    }

    [Fact]
    public async Task Suggest_SocketOptionOnTheLine_IsWhereVmNamesComeFrom()
    {
        await using var broker = new FakeBroker().On("GET", "/v1/vms", 200, Json<IReadOnlyList<VmDto>>([Running, NotBootable], BrokerJson.Default.IReadOnlyListVmDto));
        var line = $"stop --socket {broker.SocketPath} m";
        var run = await CliRun.RunAsync([$"[suggest:{line.Length}]", line]);
        Assert.Equal(0, run.ExitCode);
        Assert.Contains("mail", run.StdoutLines);
    }

    [Fact]
    public async Task Suggest_NoBroker_OffersNoVmNamesAndNoError()
    {
        var run = await CliRun.RunAsync("[suggest:6]", "run ed");
        Assert.Equal(0, run.ExitCode);
        Assert.Equal("", run.Stderr);
        Assert.DoesNotContain("editor", run.StdoutLines);
    }

    [Fact]
    public async Task Suggest_CompletesOpenRights()
    {
        var run = await CliRun.RunAsync("[suggest:32]", "open editor Documents --rights r");
        Assert.Equal(0, run.ExitCode);
        Assert.Equal(["ro", "rw"], run.StdoutLines);
    }
}
