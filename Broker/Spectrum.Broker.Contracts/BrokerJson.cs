using System.Text.Json.Serialization;

namespace Spectrum.Broker.Contracts;

/// <summary>
/// The one JSON configuration of the wire contract: snake_case names, nulls written (a stable shape
/// has every key), ISO 8601 times, indented for humans piping to jq. Source-generated.
/// </summary>
[JsonSourceGenerationOptions(
    PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower,
    WriteIndented = true,
    DefaultIgnoreCondition = JsonIgnoreCondition.Never)]
[JsonSerializable(typeof(GrantDto))]
[JsonSerializable(typeof(IReadOnlyList<GrantDto>))]
[JsonSerializable(typeof(GrantRequest))]
[JsonSerializable(typeof(GrantCreated))]
[JsonSerializable(typeof(RevokeRequest))]
[JsonSerializable(typeof(RevokeResult))]
[JsonSerializable(typeof(WhoCanResult))]
[JsonSerializable(typeof(IReadOnlyList<AuditRecordDto>))]
[JsonSerializable(typeof(AuditVerifyResult))]
[JsonSerializable(typeof(PolicyCheckRequest))]
[JsonSerializable(typeof(PolicyCheckResult))]
[JsonSerializable(typeof(PolicyDiffResult))]
[JsonSerializable(typeof(TokenRequest))]
[JsonSerializable(typeof(TokenVerifyResult))]
[JsonSerializable(typeof(TokenInfoDto))]
[JsonSerializable(typeof(TokenResult))]
[JsonSerializable(typeof(RevocationRequest))]
[JsonSerializable(typeof(IReadOnlyList<VmDto>))]
[JsonSerializable(typeof(VmRunResult))]
[JsonSerializable(typeof(VmStopRequest))]
[JsonSerializable(typeof(VmStopResult))]
[JsonSerializable(typeof(VmOpenRequest))]
[JsonSerializable(typeof(VmOpenResult))]
[JsonSerializable(typeof(StatusDto))]
[JsonSerializable(typeof(ErrorDto))]
public sealed partial class BrokerJson : JsonSerializerContext;

/// <summary>The control API's paths.</summary>
public static class ApiRoutes
{
    public const string Status = "/v1/status";
    public const string Grants = "/v1/grants";
    public const string Revoke = "/v1/revoke";
    public const string WhoCan = "/v1/who-can";
    public const string Audit = "/v1/audit";
    public const string AuditVerify = "/v1/audit/verify";
    public const string PolicyCheck = "/v1/policy/check";
    public const string PolicyDiff = "/v1/policy/diff";
    public const string PolicyApply = "/v1/policy/apply";
    public const string TokenVerify = "/v1/tokens/verify";
    public const string TokenRedeem = "/v1/tokens/redeem";
    public const string Revocations = "/v1/revocations";
    public const string Vms = "/v1/vms";

    /// <summary>POST: start the VM (idempotent).</summary>
    public static string VmRun(string vm) => $"{Vms}/{Uri.EscapeDataString(vm)}/run";

    /// <summary>POST <see cref="VmStopRequest"/>: stop the VM (idempotent).</summary>
    public static string VmStop(string vm) => $"{Vms}/{Uri.EscapeDataString(vm)}/stop";

    /// <summary>POST <see cref="VmOpenRequest"/>: session grant, then run.</summary>
    public static string VmOpen(string vm) => $"{Vms}/{Uri.EscapeDataString(vm)}/open";
    public const string KeyRotate = "/v1/keys/rotate";
}
