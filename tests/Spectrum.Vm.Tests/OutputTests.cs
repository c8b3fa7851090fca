using System.Text.Json;
using Spectrum.Broker.Contracts;
using static Spectrum.Vm.Tests.VmFixtures;

namespace Spectrum.Vm.Tests;

/// <summary>
/// What each command sends and how it renders the answer, against canned answers that follow the
/// contract (see <see cref="FakeBroker"/>); the daemon side is tested end to end with real guests.
/// </summary>
public class OutputTests
{
    private static readonly FixedClock Clock = new(Now);

    [Fact]
    public async Task Run_Started_PrintsStateAndPidAndPostsWithoutBody()
    {
        var result = new VmRunResult { Vm = Running with { UptimeSeconds = 0.2 }, AlreadyRunning = false };
        await using var broker = new FakeBroker().On("POST", "/v1/vms/editor/run", 200, Json(result, BrokerJson.Default.VmRunResult));
        var run = await CliRun.RunAsync(["run", "editor"], socket: broker.SocketPath);
        run.AssertOk();
        Assert.Equal("editor: running (pid 1234)\n", run.Stdout);
        Assert.Equal(("POST /v1/vms/editor/run", ""), Assert.Single(broker.Requests));
    }

    [Fact]
    public async Task Run_AlreadyRunning_SaysSoWithUptime()
    {
        var result = new VmRunResult { Vm = Running, AlreadyRunning = true };
        await using var broker = new FakeBroker().On("POST", "/v1/vms/editor/run", 200, Json(result, BrokerJson.Default.VmRunResult));
        var run = await CliRun.RunAsync(["run", "editor"], socket: broker.SocketPath);
        run.AssertOk();
        Assert.Equal("editor: already running (pid 1234, up 3m5s)\n", run.Stdout);
    }

    [Fact]
    public async Task Run_Json_PrintsExactlyTheRunResult()
    {
        var body = Json(new VmRunResult { Vm = Running, AlreadyRunning = false }, BrokerJson.Default.VmRunResult);
        await using var broker = new FakeBroker().On("POST", "/v1/vms/editor/run", 200, body);
        var run = await CliRun.RunAsync(["run", "editor", "--json"], socket: broker.SocketPath);
        run.AssertOk();
        Assert.Equal(body + "\n", run.Stdout);
    }

    [Fact]
    public async Task Run_UnknownVm_ExitsOneWithTheBrokersMessage()
    {
        await using var broker = new FakeBroker().On("POST", "/v1/vms/nope/run", 404, NotFound("nope"));
        var line = (await CliRun.RunAsync(["run", "nope"], socket: broker.SocketPath)).AssertFailed(1);
        Assert.Equal("spectrum-vm: no VM 'nope' in the policies; declare it in policies/vms/nope.toml", line);
    }

    [Fact]
    public async Task Run_NotBootable_ExitsOneWithTheBrokersMessage()
    {
        await using var broker = new FakeBroker().On("POST", "/v1/vms/mail/run", 409, """
            {"code":"conflict","message":"VM 'mail' has no [vm] table; add one to policies/vms/mail.toml to boot it"}
            """);
        var line = (await CliRun.RunAsync(["run", "mail", "--json"], socket: broker.SocketPath)).AssertFailed(1);
        Assert.Equal("spectrum-vm: VM 'mail' has no [vm] table; add one to policies/vms/mail.toml to boot it", line);
    }

    [Fact]
    public async Task Run_LaunchFailed_ExitsOneWithTheBrokersMessage()
    {
        await using var broker = new FakeBroker().On("POST", "/v1/vms/editor/run", 502, """
            {"code":"launch_failed","message":"qemu exited at once (status 1); see the broker's log"}
            """);
        var line = (await CliRun.RunAsync(["run", "editor"], socket: broker.SocketPath)).AssertFailed(1);
        Assert.Contains("qemu exited at once", line, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Stop_Default_SendsTenSecondsAndReportsTheRevokedSessionGrants()
    {
        var result = new VmStopResult { Vm = Stopped, WasRunning = true, Exit = VmExitReasons.Stopped, SessionGrantsRevoked = 2 };
        await using var broker = new FakeBroker().On("POST", "/v1/vms/editor/stop", 200, Json(result, BrokerJson.Default.VmStopResult));
        var run = await CliRun.RunAsync(["stop", "editor"], socket: broker.SocketPath);
        run.AssertOk();
        Assert.Equal("editor: stopped gracefully; revoked 2 session grants\n", run.Stdout);
        var (request, body) = Assert.Single(broker.Requests);
        Assert.Equal("POST /v1/vms/editor/stop", request);
        Assert.Equal(new VmStopRequest { TimeoutSeconds = 10 }, JsonSerializer.Deserialize(body, BrokerJson.Default.VmStopRequest));
    }

    [Fact]
    public async Task Stop_Killed_SaysItWasKilledAfterTheTimeoutGiven()
    {
        var result = new VmStopResult { Vm = Stopped with { LastExit = VmExitReasons.Killed }, WasRunning = true, Exit = VmExitReasons.Killed, SessionGrantsRevoked = 1 };
        await using var broker = new FakeBroker().On("POST", "/v1/vms/editor/stop", 200, Json(result, BrokerJson.Default.VmStopResult));
        var run = await CliRun.RunAsync(["stop", "editor", "--timeout", "2.5"], socket: broker.SocketPath);
        run.AssertOk();
        Assert.Equal("editor: killed: it did not shut down within 2.5s; revoked 1 session grant\n", run.Stdout);
        Assert.Equal(2.5, JsonSerializer.Deserialize(Assert.Single(broker.Requests).Body, BrokerJson.Default.VmStopRequest)!.TimeoutSeconds);
    }

    [Theory]
    [InlineData(VmExitReasons.Poweroff, 0, "editor: stopped: the guest had powered itself off; no session grants to revoke")]
    [InlineData(VmExitReasons.Crashed, 3, "editor: stopped: its VMM or virtiofsd had crashed (see the broker's log); revoked 3 session grants")]
    [InlineData("vanished", 0, "editor: stopped (vanished); no session grants to revoke")]
    public async Task Stop_OtherEndings_AreWorded(string exit, int revoked, string expected)
    {
        var result = new VmStopResult { Vm = Stopped, WasRunning = true, Exit = exit, SessionGrantsRevoked = revoked };
        await using var broker = new FakeBroker().On("POST", "/v1/vms/editor/stop", 200, Json(result, BrokerJson.Default.VmStopResult));
        var run = await CliRun.RunAsync(["stop", "editor"], socket: broker.SocketPath);
        run.AssertOk();
        Assert.Equal(expected + "\n", run.Stdout);
    }

    [Fact]
    public async Task Stop_NotRunning_SaysSoAndExitsZero()
    {
        var result = new VmStopResult { Vm = NotBootable, WasRunning = false, SessionGrantsRevoked = 0 };
        await using var broker = new FakeBroker().On("POST", "/v1/vms/mail/stop", 200, Json(result, BrokerJson.Default.VmStopResult));
        var run = await CliRun.RunAsync(["stop", "mail"], socket: broker.SocketPath);
        run.AssertOk();
        Assert.Equal("mail: not running; nothing to stop\n", run.Stdout);
    }

    [Fact]
    public async Task Stop_Json_PrintsExactlyTheStopResult()
    {
        var body = Json(new VmStopResult { Vm = Stopped, WasRunning = true, Exit = VmExitReasons.Stopped, SessionGrantsRevoked = 2 }, BrokerJson.Default.VmStopResult);
        await using var broker = new FakeBroker().On("POST", "/v1/vms/editor/stop", 200, body);
        var run = await CliRun.RunAsync(["--json", "stop", "editor", "--timeout", "30"], socket: broker.SocketPath);
        run.AssertOk();
        Assert.Equal(body + "\n", run.Stdout);
    }

    [Fact]
    public async Task Stop_UnknownVm_ExitsOne()
    {
        await using var broker = new FakeBroker().On("POST", "/v1/vms/nope/stop", 404, NotFound("nope"));
        var line = (await CliRun.RunAsync(["stop", "nope"], socket: broker.SocketPath)).AssertFailed(1);
        Assert.Contains("no VM 'nope'", line, StringComparison.Ordinal);
    }

    [Fact]
    public async Task List_Human_PrintsStateVmmPidUptimeAndGrants()
    {
        await using var broker = new FakeBroker().On("GET", "/v1/vms", 200, Json<IReadOnlyList<VmDto>>(
            [Running with { UptimeSeconds = 3 * 3600 + 5 * 60 + 7 }, NotBootable, Stopped with { Name = "viewer", Vmm = "cloud-hypervisor" }],
            BrokerJson.Default.IReadOnlyListVmDto));
        var run = await CliRun.RunAsync(["list"], socket: broker.SocketPath);
        run.AssertOk();
        Assert.Equal(
            [
                "NAME    STATE    VMM               PID   UPTIME  GRANTS",
                "editor  running  qemu              1234  3h5m    2",
                "mail    stopped  -                 -     -       0",
                "viewer  stopped  cloud-hypervisor  -     -       2",
            ],
            run.StdoutLines);
    }

    [Fact]
    public async Task List_Empty_SaysHowToDeclareAVm()
    {
        await using var broker = new FakeBroker().On("GET", "/v1/vms", 200, "[]");
        var run = await CliRun.RunAsync(["list"], socket: broker.SocketPath);
        run.AssertOk();
        Assert.StartsWith("no VMs", run.Stdout, StringComparison.Ordinal);
        Assert.Single(run.StdoutLines);
    }

    [Fact]
    public async Task List_Json_PrintsExactlyTheArray()
    {
        var body = Json<IReadOnlyList<VmDto>>([Running, NotBootable], BrokerJson.Default.IReadOnlyListVmDto);
        await using var broker = new FakeBroker().On("GET", "/v1/vms", 200, body);
        var run = await CliRun.RunAsync(["list", "--json"], socket: broker.SocketPath);
        run.AssertOk();
        Assert.Equal(body + "\n", run.Stdout);
        Assert.Equal("GET /v1/vms", Assert.Single(broker.Requests).Request);
    }

    [Fact]
    public async Task Open_SendsCanonicalRightsAndPrintsTheGrantAndTheVmState()
    {
        var result = new VmOpenResult { Grant = SessionGrant with { Rights = "rw" }, Vm = Running with { UptimeSeconds = 0.5 }, AlreadyRunning = false };
        await using var broker = new FakeBroker().On("POST", "/v1/vms/editor/open", 200, Json(result, BrokerJson.Default.VmOpenResult));
        var run = await CliRun.RunAsync(
            ["open", "editor", "Documents/report.odt", "--rights", "write,read,create,delete,rename,setattr"], socket: broker.SocketPath, time: Clock);
        run.AssertOk();
        Assert.Equal(
            [
                "granted g_00000000000000b2: editor Documents/report.odt rw (file, session, expires never)",
                "editor: running (pid 1234)",
            ],
            run.StdoutLines);
        var (request, body) = Assert.Single(broker.Requests);
        Assert.Equal("POST /v1/vms/editor/open", request);
        Assert.Equal(new VmOpenRequest { Path = "Documents/report.odt", Rights = "rw" }, JsonSerializer.Deserialize(body, BrokerJson.Default.VmOpenRequest));
    }

    [Fact]
    public async Task Open_WithoutRights_LeavesTheDefaultToTheBroker()
    {
        var result = new VmOpenResult { Grant = SessionGrant, Vm = Running, AlreadyRunning = true };
        await using var broker = new FakeBroker().On("POST", "/v1/vms/editor/open", 200, Json(result, BrokerJson.Default.VmOpenResult));
        var run = await CliRun.RunAsync(["open", "editor", "Documents/report.odt"], socket: broker.SocketPath, time: Clock);
        run.AssertOk();
        Assert.Equal("editor: already running (pid 1234, up 3m5s)", run.StdoutLines[1]);
        Assert.Equal(new VmOpenRequest { Path = "Documents/report.odt" }, JsonSerializer.Deserialize(Assert.Single(broker.Requests).Body, BrokerJson.Default.VmOpenRequest));
    }

    [Fact]
    public async Task Open_Json_PrintsExactlyTheOpenResult()
    {
        var body = Json(new VmOpenResult { Grant = SessionGrant, Vm = Running, AlreadyRunning = false }, BrokerJson.Default.VmOpenResult);
        await using var broker = new FakeBroker().On("POST", "/v1/vms/editor/open", 200, body);
        var run = await CliRun.RunAsync(["open", "editor", "Documents/report.odt", "--json"], socket: broker.SocketPath);
        run.AssertOk();
        Assert.Equal(body + "\n", run.Stdout);
    }

    [Fact]
    public async Task Open_BrokerBadRequest_ExitsTwo()
    {
        await using var broker = new FakeBroker().On("POST", "/v1/vms/editor/open", 400, """
            {"code":"bad_request","message":"no such file Documents/x; check the path"}
            """);
        var line = (await CliRun.RunAsync(["open", "editor", "Documents/x"], socket: broker.SocketPath)).AssertFailed(2);
        Assert.Equal("spectrum-vm: no such file Documents/x; check the path", line);
    }

    [Fact]
    public async Task UnreadableAnswer_ExitsOneNamingTheVersionFix()
    {
        await using var broker = new FakeBroker().On("POST", "/v1/vms/editor/run", 200, """{"vm":42}""");
        var line = (await CliRun.RunAsync(["run", "editor"], socket: broker.SocketPath)).AssertFailed(1);
        Assert.Contains("use a spectrum-vm of the same version as the broker", line, StringComparison.Ordinal);
    }

    [Fact]
    public async Task VmNameWithDots_IsPassedInTheRoute()
    {
        var result = new VmRunResult { Vm = Running with { Name = "web.2" }, AlreadyRunning = false };
        await using var broker = new FakeBroker().On("POST", "/v1/vms/web.2/run", 200, Json(result, BrokerJson.Default.VmRunResult));
        (await CliRun.RunAsync(["run", "web.2"], socket: broker.SocketPath)).AssertOk();
    }
}
