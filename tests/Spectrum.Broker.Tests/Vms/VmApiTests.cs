namespace Spectrum.Broker.Tests.Vms;

/// <summary>
/// The VM lifecycle calls' refusals, on the real daemon: each names the cause and the fix, and
/// leaves nothing behind (no grant from a failed open, no process, an audited failed start).
/// </summary>
public sealed class VmApiTests : IAsyncLifetime
{
    private readonly TestDirs dirs = new();
    private BrokerProcess? broker;

    private BrokerClient Client => broker!.Client;

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync()
    {
        if (broker is not null)
        {
            await broker.DisposeAsync();
        }

        dirs.Dispose();
    }

    [Fact]
    public async Task Run_UnknownVm_IsNotFound_AndNamesWhereToDeclareIt()
    {
        await StartAsync();

        var e = await Api.RefusedAsync(() => Client.RunVmAsync("ghost"), BrokerFailure.Refused);

        Assert.Equal("not_found", e.Code);
        Assert.Contains($"no VM named ghost; declare it in {dirs.PolicyFile("ghost")}", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Run_VmWithoutVmTable_IsRefused_AndSaysWhatToAdd()
    {
        dirs.Policy("bare", "[[grant]]\npath = \"Documents\"\n");
        await StartAsync();

        var e = await Api.RefusedAsync(() => Client.RunVmAsync("bare"), BrokerFailure.Refused);

        Assert.Equal("conflict", e.Code);
        Assert.Contains("has no [vm] table", e.Message, StringComparison.Ordinal);
        Assert.Contains("kernel = ", e.Message, StringComparison.Ordinal);
        Assert.False((await Client.VmAsync("bare")).Bootable);
    }

    [Fact]
    public async Task Run_MissingKernel_IsRefusedBeforeAnythingStarts_AndPolicyCheckReportsIt()
    {
        var kernel = Path.Combine(dirs.Root, "images", "vmlinuz");
        dirs.Policy("nokernel", $"[vm]\nkernel = \"{kernel}\"\nvmm = \"qemu\"\n");
        await StartAsync();

        var e = await Api.RefusedAsync(() => Client.RunVmAsync("nokernel"), BrokerFailure.Refused);
        var check = await Client.SendAsync(HttpMethod.Post, ApiRoutes.PolicyCheck, new PolicyCheckRequest(), BrokerJson.Default.PolicyCheckRequest, BrokerJson.Default.PolicyCheckResult);

        Assert.Contains($"kernel {kernel} does not exist", e.Message, StringComparison.Ordinal);
        Assert.False(Directory.Exists(Path.Combine(dirs.Run, "vm", "nokernel", "virtiofsd.sock")));
        Assert.False(check.Ok);
        var error = Assert.Single(check.Errors);
        Assert.Equal((dirs.PolicyFile("nokernel"), 2, 10), (error.File, error.Line, error.Column));
        Assert.Contains($"kernel file '{kernel}' does not exist", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Run_CloudHypervisorMissing_SaysHowToInstallOrSwitchToQemu()
    {
        var kernel = Path.Combine(dirs.Root, "vmlinuz");
        await File.WriteAllTextAsync(kernel, "not a kernel");
        dirs.Policy("ch", $"[vm]\nkernel = \"{kernel}\"\n");
        var info = BrokerProcess.StartInfo(dirs);
        info.Environment["SPECTRUM_CLOUD_HYPERVISOR"] = Path.Combine(dirs.Root, "no-such-cloud-hypervisor");
        broker = await BrokerProcess.StartAsync(dirs, info);

        var e = await Api.RefusedAsync(() => Client.RunVmAsync("ch"), BrokerFailure.Refused);

        Assert.Contains("needs Cloud Hypervisor", e.Message, StringComparison.Ordinal);
        Assert.Contains("vmm = \"qemu\"", e.Message, StringComparison.Ordinal);
        Assert.Equal("cloud-hypervisor", (await Client.VmAsync("ch")).Vmm);
    }

    [Fact]
    public async Task Open_WhenTheLaunchFails_WithdrawsTheSessionGrant_AndAuditsTheFailedStart()
    {
        var kernel = Path.Combine(dirs.Root, "vmlinuz");
        await File.WriteAllTextAsync(kernel, "not a kernel");
        dirs.Policy("broken", $"[vm]\nkernel = \"{kernel}\"\nvmm = \"qemu\"\n");
        var info = BrokerProcess.StartInfo(dirs);
        info.Environment["SPECTRUM_QEMU"] = "/bin/false";
        broker = await BrokerProcess.StartAsync(dirs, info);

        var e = await Api.RefusedAsync(() => Client.OpenVmAsync("broken", "Documents/report.odt"), BrokerFailure.Refused);

        Assert.True(e.Code == "launch_failed", $"{e.Code}: {e.Message}; broker: {broker.Output}");
        Assert.StartsWith("VM broken did not start: ", e.Message, StringComparison.Ordinal);
        Assert.Empty(await Client.ListAsync("broken"));
        var grant = Assert.Single(await Client.ListAsync("broken", all: true));
        Assert.Equal(("revoked", "session"), (grant.State, grant.Persistence));
        Assert.Equal("failed", Assert.Single(await Client.AuditAsync("&vm=broken&action=vm-start")).Result);
        Assert.Equal(VmStates.Stopped, (await Client.VmAsync("broken")).State);
    }

    [Fact]
    public async Task Open_UnknownVm_CreatesNoGrant()
    {
        await StartAsync();

        await Api.RefusedAsync(() => Client.OpenVmAsync("ghost", "Documents"), BrokerFailure.Refused);

        Assert.Empty(await Client.ListAsync(all: true));
    }

    [Theory]
    [InlineData("0")]
    [InlineData("-1")]
    [InlineData("3601")]
    public async Task Stop_BadTimeout_IsABadRequest(string seconds)
    {
        dirs.Policy("v", "");
        await StartAsync();

        var (status, body) = await broker!.HttpAsync(HttpMethod.Post, ApiRoutes.VmStop("v"), $"{{\"timeout_seconds\": {seconds}}}");

        Assert.Equal(400, status);
        Assert.Contains("bad timeout_seconds", body, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Stop_VmThatIsNotRunning_IsNotAnError()
    {
        dirs.Policy("v", "");
        await StartAsync();

        var stop = await Client.StopVmAsync("v");

        Assert.Equal((false, null, 0, VmStates.Stopped), (stop.WasRunning, stop.Exit, stop.SessionGrantsRevoked, stop.Vm.State));
    }

    private async Task StartAsync() => broker = await BrokerProcess.StartAsync(dirs);
}
