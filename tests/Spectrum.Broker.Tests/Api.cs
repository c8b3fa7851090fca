namespace Spectrum.Broker.Tests;

/// <summary>Typed calls on the control API, as the CLI makes them.</summary>
public static class Api
{
    private static BrokerJson J => BrokerJson.Default;

    public static Task<GrantCreated> GrantAsync(this BrokerClient c, string vm, string path, string? rights = null, string? expires = null, bool token = false, bool session = false) =>
        c.SendAsync(HttpMethod.Post, ApiRoutes.Grants, new GrantRequest { Vm = vm, Path = path, Rights = rights, Expires = expires, Token = token, Session = session }, J.GrantRequest, J.GrantCreated);

    public static Task<IReadOnlyList<GrantDto>> ListAsync(this BrokerClient c, string? vm = null, bool all = false) =>
        c.SendAsync(HttpMethod.Get, $"{ApiRoutes.Grants}?all={(all ? "true" : "false")}{(vm is null ? "" : "&vm=" + vm)}", J.IReadOnlyListGrantDto);

    public static Task<GrantDto> ShowAsync(this BrokerClient c, string id) =>
        c.SendAsync(HttpMethod.Get, $"{ApiRoutes.Grants}/{id}", J.GrantDto);

    public static Task<RevokeResult> RevokeAsync(this BrokerClient c, string id) =>
        c.SendAsync(HttpMethod.Delete, $"{ApiRoutes.Grants}/{id}", J.RevokeResult);

    public static Task<RevokeResult> RevokeVmAsync(this BrokerClient c, string vm, string? path = null) =>
        c.SendAsync(HttpMethod.Post, ApiRoutes.Revoke, new RevokeRequest { Vm = vm, Path = path }, J.RevokeRequest, J.RevokeResult);

    public static Task<WhoCanResult> WhoCanAsync(this BrokerClient c, string path) =>
        c.SendAsync(HttpMethod.Get, $"{ApiRoutes.WhoCan}?path={Uri.EscapeDataString(path)}", J.WhoCanResult);

    public static Task<IReadOnlyList<AuditRecordDto>> AuditAsync(this BrokerClient c, string query = "") =>
        c.SendAsync(HttpMethod.Get, $"{ApiRoutes.Audit}?limit=100000{query}", J.IReadOnlyListAuditRecordDto);

    public static Task<AuditVerifyResult> VerifyAuditAsync(this BrokerClient c) =>
        c.SendAsync(HttpMethod.Get, ApiRoutes.AuditVerify, J.AuditVerifyResult);

    public static Task<PolicyDiffResult> PolicyDiffAsync(this BrokerClient c) =>
        c.SendAsync(HttpMethod.Get, ApiRoutes.PolicyDiff, J.PolicyDiffResult);

    public static Task<PolicyDiffResult> PolicyApplyAsync(this BrokerClient c) =>
        c.SendAsync(HttpMethod.Post, ApiRoutes.PolicyApply, J.PolicyDiffResult);

    public static Task<GrantDto> RedeemAsync(this BrokerClient c, string token, string vm, string? path = null, string? rights = null) =>
        c.SendAsync(HttpMethod.Post, ApiRoutes.TokenRedeem, new TokenRequest { Token = token, Vm = vm, Path = path, Rights = rights }, J.TokenRequest, J.GrantDto);

    public static Task<TokenVerifyResult> VerifyTokenAsync(this BrokerClient c, string token, string? vm = null, string? path = null, string? rights = null) =>
        c.SendAsync(HttpMethod.Post, ApiRoutes.TokenVerify, new TokenRequest { Token = token, Vm = vm, Path = path, Rights = rights }, J.TokenRequest, J.TokenVerifyResult);

    public static Task<RevokeResult> RevokeTokenAsync(this BrokerClient c, string revocationId) =>
        c.SendAsync(HttpMethod.Post, ApiRoutes.Revocations, new RevocationRequest { RevocationId = revocationId }, J.RevocationRequest, J.RevokeResult);

    public static Task<StatusDto> RotateKeyAsync(this BrokerClient c) =>
        c.SendAsync(HttpMethod.Post, ApiRoutes.KeyRotate, J.StatusDto);

    public static Task<IReadOnlyList<VmDto>> VmsAsync(this BrokerClient c) =>
        c.SendAsync(HttpMethod.Get, ApiRoutes.Vms, J.IReadOnlyListVmDto);

    public static async Task<VmDto> VmAsync(this BrokerClient c, string vm) =>
        (await c.VmsAsync()).Single(v => v.Name == vm);

    public static Task<VmRunResult> RunVmAsync(this BrokerClient c, string vm) =>
        c.SendAsync(HttpMethod.Post, ApiRoutes.VmRun(vm), J.VmRunResult);

    public static Task<VmStopResult> StopVmAsync(this BrokerClient c, string vm, double? timeoutSeconds = null) =>
        c.SendAsync(HttpMethod.Post, ApiRoutes.VmStop(vm), new VmStopRequest { TimeoutSeconds = timeoutSeconds }, J.VmStopRequest, J.VmStopResult);

    public static Task<VmOpenResult> OpenVmAsync(this BrokerClient c, string vm, string path, string? rights = null) =>
        c.SendAsync(HttpMethod.Post, ApiRoutes.VmOpen(vm), new VmOpenRequest { Path = path, Rights = rights }, J.VmOpenRequest, J.VmOpenResult);

    /// <summary>Asserts the call is refused with the given failure, and returns the one-line message.</summary>
    public static async Task<BrokerClientException> RefusedAsync(Func<Task> call, BrokerFailure failure)
    {
        var e = await Assert.ThrowsAsync<BrokerClientException>(call);
        Assert.Equal(failure, e.Failure);
        Assert.DoesNotContain('\n', e.Message);
        return e;
    }
}
