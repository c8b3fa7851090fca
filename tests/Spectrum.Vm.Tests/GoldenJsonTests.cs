using System.Text.Json;
using Spectrum.Broker.Contracts;
using static Spectrum.Tests.Shared.JsonShape;
using static Spectrum.Vm.Tests.VmFixtures;

namespace Spectrum.Vm.Tests;

/// <summary>
/// Freezes the <c>--json</c> shapes of <c>spectrum-vm</c> and the request bodies it sends: the exact
/// property names, in order, recursively (see <see cref="JsonShape"/>). A shape may only change
/// together with these goldens and the README; the VM and grant shapes are shared with
/// <c>spectrum-grant</c> (<see cref="SharedGoldens"/>).
/// </summary>
public sealed class GoldenJsonTests
{
    private static readonly string[] Vm = SharedGoldens.Vm;

    private static readonly string[] RunResult = ["vm", .. Nest("vm", Vm), "already_running"];

    private static readonly string[] StopRequest = ["timeout_seconds"];

    private static readonly string[] StopResult = ["vm", .. Nest("vm", Vm), "was_running", "exit", "session_grants_revoked"];

    private static readonly string[] OpenRequest = ["path", "rights"];

    private static readonly string[] OpenResult =
        ["grant", .. Nest("grant", SharedGoldens.Grant), "vm", .. Nest("vm", Vm), "already_running"];

    /// <summary>Every optional member filled in, so that a renamed or reordered property fails here.</summary>
    private static readonly VmDto Full = Running with { LastExit = VmExitReasons.Crashed };

    private static readonly GrantDto FullGrant = SessionGrant with
    {
        Parent = "g_1", ExpiresAt = Now, EndedAt = Now, Identity = new FileIdentityDto { Dev = 1, Ino = 2, Handle = "1:ab" },
    };

    [Fact]
    public void ContractTypes_Serialize_ToTheGoldenShapes()
    {
        AssertShape(Each(Vm), Json<IReadOnlyList<VmDto>>([Full], BrokerJson.Default.IReadOnlyListVmDto));
        AssertShape(RunResult, Json(new VmRunResult { Vm = Full, AlreadyRunning = true }, BrokerJson.Default.VmRunResult));
        AssertShape(StopRequest, Json(new VmStopRequest { TimeoutSeconds = 10 }, BrokerJson.Default.VmStopRequest));
        AssertShape(StopResult, Json(
            new VmStopResult { Vm = Full, WasRunning = true, Exit = VmExitReasons.Killed, SessionGrantsRevoked = 1 }, BrokerJson.Default.VmStopResult));
        AssertShape(OpenRequest, Json(new VmOpenRequest { Path = "Documents", Rights = "rw" }, BrokerJson.Default.VmOpenRequest));
        AssertShape(OpenResult, Json(new VmOpenResult { Grant = FullGrant, Vm = Full, AlreadyRunning = false }, BrokerJson.Default.VmOpenResult));
    }

    [Fact]
    public void StoppedVm_KeepsEveryKeyWithNulls()
    {
        var json = Json(NotBootable, BrokerJson.Default.VmDto);
        AssertShape(Vm, json);
        using var document = JsonDocument.Parse(json);
        Assert.Equal("stopped", document.RootElement.GetProperty("state").GetString());
        Assert.Equal(JsonValueKind.Null, document.RootElement.GetProperty("pid").ValueKind);
        Assert.Equal(JsonValueKind.Null, document.RootElement.GetProperty("uptime_seconds").ValueKind);
    }

    [Fact]
    public async Task Commands_Json_MatchTheGoldenShapes()
    {
        await using var broker = new FakeBroker()
            .On("GET", "/v1/vms", 200, Json<IReadOnlyList<VmDto>>([Full, NotBootable], BrokerJson.Default.IReadOnlyListVmDto))
            .On("POST", "/v1/vms/editor/run", 200, Json(new VmRunResult { Vm = Full, AlreadyRunning = false }, BrokerJson.Default.VmRunResult))
            .On("POST", "/v1/vms/editor/stop", 200, Json(
                new VmStopResult { Vm = Stopped, WasRunning = true, Exit = VmExitReasons.Stopped, SessionGrantsRevoked = 2 }, BrokerJson.Default.VmStopResult))
            .On("POST", "/v1/vms/editor/open", 200, Json(new VmOpenResult { Grant = FullGrant, Vm = Full, AlreadyRunning = true }, BrokerJson.Default.VmOpenResult));
        foreach (var (golden, args) in new (string[], string[])[]
                 {
                     (Each(Vm), ["list"]),
                     (RunResult, ["run", "editor"]),
                     (StopResult, ["stop", "editor"]),
                     (OpenResult, ["open", "editor", "Documents/report.odt"]),
                 })
        {
            var run = await CliRun.RunAsync([.. args, "--json"], socket: broker.SocketPath);
            run.AssertOk();
            AssertShape(golden, run.Stdout);
        }
    }

    [Fact]
    public async Task RequestBodies_MatchTheGoldenShapes()
    {
        await using var broker = new FakeBroker()
            .On("POST", "/v1/vms/editor/stop", 200, Json(new VmStopResult { Vm = NotBootable, WasRunning = false, SessionGrantsRevoked = 0 }, BrokerJson.Default.VmStopResult))
            .On("POST", "/v1/vms/editor/open", 200, Json(new VmOpenResult { Grant = SessionGrant, Vm = Running, AlreadyRunning = true }, BrokerJson.Default.VmOpenResult));
        (await CliRun.RunAsync(["stop", "editor"], socket: broker.SocketPath)).AssertOk();
        (await CliRun.RunAsync(["open", "editor", "Documents"], socket: broker.SocketPath)).AssertOk();
        (await CliRun.RunAsync(["open", "editor", "Documents", "--rights", "rw"], socket: broker.SocketPath)).AssertOk();
        var bodies = broker.Requests.Select(r => r.Body).ToArray();
        AssertShape(StopRequest, bodies[0]);
        AssertShape(OpenRequest, bodies[1]);
        AssertShape(OpenRequest, bodies[2]);
    }
}
