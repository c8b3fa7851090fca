using System.Text.Json;
using Spectrum.Broker.Contracts;
using static Spectrum.Tests.Shared.JsonShape;

namespace Spectrum.Vm.Tests;

/// <summary>
/// <c>spectrum-vm list</c> against the real daemon (GET /v1/vms needs no guest). run, stop and open
/// need real guests and are tested end to end with them.
/// </summary>
public sealed class LiveBrokerTests : LiveBrokerTest
{
    protected override void BeforeStart() =>
        Dirs.Policy("editor", "[[grant]]\npath = \"Documents\"\nrights = \"rw\"\n");

    private static string[] Cells(string line) => line.Split(' ', StringSplitOptions.RemoveEmptyEntries);

    [Fact]
    public async Task List_PolicyVmNeverStarted_IsStoppedWithItsGrants()
    {
        var lines = (await OkAsync("list")).StdoutLines;
        Assert.Equal(["NAME", "STATE", "VMM", "PID", "UPTIME", "GRANTS"], Cells(lines[0]));
        Assert.Equal(["editor", "stopped", "-", "-", "-", "1"], Cells(Assert.Single(lines, l => l.StartsWith("editor ", StringComparison.Ordinal))));
    }

    [Fact]
    public async Task List_Json_IsTheControlApisOwnDocumentAndMatchesTheGolden()
    {
        var run = await OkAsync("list", "--json");
        AssertShape(Each(SharedGoldens.Vm), run.Stdout);
        var vm = Assert.Single(JsonSerializer.Deserialize(run.Stdout, BrokerJson.Default.IReadOnlyListVmDto)!, v => v.Name == "editor");
        Assert.Equal((true, VmStates.Stopped, (int?)null, 1), (vm.Declared, vm.State, vm.Pid, vm.Grants));

        var (status, body) = await Broker.HttpAsync(HttpMethod.Get, ApiRoutes.Vms);
        Assert.Equal(200, status);
        Assert.Equal(body.TrimEnd('\n'), run.Stdout.TrimEnd('\n'));
    }
}
