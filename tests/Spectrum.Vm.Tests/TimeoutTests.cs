using Spectrum.Broker.Contracts;
using Spectrum.Cli;
using static Spectrum.Vm.Tests.VmFixtures;

namespace Spectrum.Vm.Tests;

/// <summary>
/// run, stop and open wait for VM boots and shutdowns, so they wait longer for the broker than the
/// other commands do: at least 120 s for run and open, the stop timeout plus 60 s for stop.
/// A fake broker that answers late stands in for a slow boot, against a 1 s base wait.
/// </summary>
public class TimeoutTests
{
    private static readonly TimeSpan BaseWait = TimeSpan.FromSeconds(1);

    private static readonly TimeSpan SlowAnswer = TimeSpan.FromSeconds(2);

    [Fact]
    public void Waits_AreTwoMinutesForABootAndTheStopTimeoutPlusAMinuteForAStop()
    {
        Assert.Equal(TimeSpan.FromSeconds(120), VmCommands.BootWait);
        Assert.Equal(TimeSpan.FromSeconds(70), VmCommands.StopWait(10));
        Assert.Equal(TimeSpan.FromSeconds(62.5), VmCommands.StopWait(2.5));
        Assert.Equal(TimeSpan.FromSeconds(3660), VmCommands.StopWait(3600));
    }

    [Fact]
    public async Task List_SlowerThanTheBaseWait_ExitsThreeSayingHowLongItWaited()
    {
        await using var broker = new FakeBroker().On("GET", "/v1/vms", 200, "[]", delay: TimeSpan.FromSeconds(5));
        var line = (await CliRun.RunAsync(["list"], socket: broker.SocketPath, brokerTimeout: BaseWait)).AssertFailed(3);
        Assert.Contains("did not answer within 1s", line, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Run_SlowerThanTheBaseWait_StillSucceeds()
    {
        var result = new VmRunResult { Vm = Running, AlreadyRunning = false };
        await using var broker = new FakeBroker().On("POST", "/v1/vms/editor/run", 200, Json(result, BrokerJson.Default.VmRunResult), SlowAnswer);
        (await CliRun.RunAsync(["run", "editor"], socket: broker.SocketPath, brokerTimeout: BaseWait)).AssertOk();
    }

    [Fact]
    public async Task Stop_SlowerThanTheBaseWait_StillSucceeds()
    {
        var result = new VmStopResult { Vm = Stopped, WasRunning = true, Exit = VmExitReasons.Killed, SessionGrantsRevoked = 0 };
        await using var broker = new FakeBroker().On("POST", "/v1/vms/editor/stop", 200, Json(result, BrokerJson.Default.VmStopResult), SlowAnswer);
        (await CliRun.RunAsync(["stop", "editor", "--timeout", "1"], socket: broker.SocketPath, brokerTimeout: BaseWait)).AssertOk();
    }

    [Fact]
    public async Task Open_SlowerThanTheBaseWait_StillSucceeds()
    {
        var result = new VmOpenResult { Grant = SessionGrant, Vm = Running, AlreadyRunning = false };
        await using var broker = new FakeBroker().On("POST", "/v1/vms/editor/open", 200, Json(result, BrokerJson.Default.VmOpenResult), SlowAnswer);
        (await CliRun.RunAsync(["open", "editor", "Documents/report.odt"], socket: broker.SocketPath, brokerTimeout: BaseWait)).AssertOk();
    }

    [Fact]
    public async Task WaitFor_BrokerTimesOut_ExitsThreeSayingTheVmMayStillBeAtIt()
    {
        await using var broker = new FakeBroker().On("POST", "/v1/vms/editor/run", 200, "{}", delay: TimeSpan.FromSeconds(5));
        using var output = new StringWriter();
        var context = new CliContext(output, output, new Dictionary<string, string?> { [Session.SocketEnv] = broker.SocketPath }) { BrokerTimeout = BaseWait };
        using var session = new Session(context, json: false, socketOption: null);
        var e = await Assert.ThrowsAsync<CliException>(() => VmCommands.WaitForAsync(session, "starting editor", () =>
            session.Broker.SendAsync(HttpMethod.Post, ApiRoutes.VmRun("editor"), BrokerJson.Default.VmRunResult)));
        Assert.Equal(ExitCodes.Unreachable, e.ExitCode);
        Assert.Contains($"the broker at {broker.SocketPath} did not answer within 1s while starting editor", e.Message, StringComparison.Ordinal);
        Assert.Contains("`spectrum-vm list`", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task WaitFor_BrokerRefuses_KeepsTheBrokersError()
    {
        await using var broker = new FakeBroker().On("POST", "/v1/vms/nope/run", 404, NotFound("nope"));
        using var output = new StringWriter();
        var context = new CliContext(output, output, new Dictionary<string, string?> { [Session.SocketEnv] = broker.SocketPath });
        using var session = new Session(context, json: false, socketOption: null);
        var e = await Assert.ThrowsAsync<BrokerClientException>(() => VmCommands.WaitForAsync(session, "starting nope", () =>
            session.Broker.SendAsync(HttpMethod.Post, ApiRoutes.VmRun("nope"), BrokerJson.Default.VmRunResult)));
        Assert.Equal(BrokerFailure.Refused, e.Failure);
    }

    [Fact]
    public async Task Session_WaitAtLeast_RaisesNeverLowersAndIsFixedOnceAsked()
    {
        using var output = new StringWriter();
        var context = new CliContext(output, output, new Dictionary<string, string?>()) { BrokerTimeout = TimeSpan.FromSeconds(200) };
        using var session = new Session(context, json: false, socketOption: "/nonexistent/broker.sock");
        session.WaitAtLeast(TimeSpan.FromSeconds(120));
        Assert.Equal(TimeSpan.FromSeconds(200), session.Timeout);
        session.WaitAtLeast(TimeSpan.FromSeconds(300));
        Assert.Equal(TimeSpan.FromSeconds(300), session.Timeout);

        await Assert.ThrowsAsync<BrokerClientException>(() => session.GetAsync(ApiRoutes.Vms, BrokerJson.Default.IReadOnlyListVmDto, CancellationToken.None));
        Assert.Throws<InvalidOperationException>(() => session.WaitAtLeast(TimeSpan.FromSeconds(400)));
    }
}
