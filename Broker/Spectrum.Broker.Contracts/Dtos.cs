namespace Spectrum.Broker.Contracts;

// The wire contract of the control API and of `spectrum-grant --json`. Property names are
// snake_case (see BrokerJson). Shapes change only by adding properties; the golden tests in
// tests/Spectrum.Grant.Tests freeze them.

/// <summary>A grant as the broker reports it.</summary>
public sealed record GrantDto
{
    public required string Id { get; init; }
    public required string Vm { get; init; }
    /// <summary>Path relative to the tree; "." is the whole tree.</summary>
    public required string Path { get; init; }
    /// <summary>"file" or "directory".</summary>
    public required string Kind { get; init; }
    /// <summary>Canonical rights text: "ro", "rw", "rw,grant", "read,create".</summary>
    public required string Rights { get; init; }
    /// <summary>"persistent" or "session" (revoked when the VM stops).</summary>
    public required string Persistence { get; init; }
    /// <summary>"policy", "cli", "portal" or "delegation".</summary>
    public required string Source { get; init; }
    /// <summary>The policy file, the uid of the admin, or the token redeemed.</summary>
    public string? SourceDetail { get; init; }
    public string? Parent { get; init; }
    public required DateTimeOffset CreatedAt { get; init; }
    public DateTimeOffset? ExpiresAt { get; init; }
    /// <summary>"active", "stale", "revoked" or "expired".</summary>
    public required string State { get; init; }
    public DateTimeOffset? EndedAt { get; init; }
    public FileIdentityDto? Identity { get; init; }
}

/// <summary>What identifies the grant root on the host, so that a replaced root is detected.</summary>
public sealed record FileIdentityDto
{
    public required ulong Dev { get; init; }
    public required ulong Ino { get; init; }
    /// <summary>The file handle from name_to_handle_at, as type:hex, or null when the filesystem has none.</summary>
    public string? Handle { get; init; }
}

/// <summary>POST /v1/grants.</summary>
public sealed record GrantRequest
{
    public required string Vm { get; init; }
    public required string Path { get; init; }
    /// <summary>Rights text; defaults to "ro".</summary>
    public string? Rights { get; init; }
    /// <summary>Duration text ("8h"); null for no expiry.</summary>
    public string? Expires { get; init; }
    public bool Session { get; init; }
    /// <summary>Also mint a capability token for the grant.</summary>
    public bool Token { get; init; }
}

/// <summary>Answer to POST /v1/grants.</summary>
public sealed record GrantCreated
{
    public required GrantDto Grant { get; init; }
    /// <summary>The spg1_ token when one was asked for; it is shown once and never stored.</summary>
    public string? Token { get; init; }
}

/// <summary>POST /v1/revoke: every active grant of a VM, optionally only those at or below a path.</summary>
public sealed record RevokeRequest
{
    public string? GrantId { get; init; }
    public string? Vm { get; init; }
    public string? Path { get; init; }
}

/// <summary>Answer to a revoke: the grants that ended (delegations derived from them included).</summary>
public sealed record RevokeResult
{
    public required IReadOnlyList<string> Revoked { get; init; }
}

/// <summary>GET /v1/who-can?path=P.</summary>
public sealed record WhoCanResult
{
    public required string Path { get; init; }
    public required IReadOnlyList<WhoCanEntry> Entries { get; init; }
}

/// <summary>One VM that reaches a path, through one grant.</summary>
public sealed record WhoCanEntry
{
    public required string Vm { get; init; }
    public required string Rights { get; init; }
    public required string GrantId { get; init; }
    /// <summary>The granted path that covers the asked path (equal, or an ancestor directory).</summary>
    public required string Via { get; init; }
    public required string Source { get; init; }
    public string? SourceDetail { get; init; }
    public DateTimeOffset? ExpiresAt { get; init; }
}

/// <summary>One audit record. The layout is frozen: see the golden tests.</summary>
public sealed record AuditRecordDto
{
    public required long Seq { get; init; }
    public required DateTimeOffset Time { get; init; }
    /// <summary>"uid:0", "vm:editor", "policy:vms/editor.toml", "broker".</summary>
    public required string Actor { get; init; }
    public string? Vm { get; init; }
    /// <summary>grant, revoke, expire, redeem, deny, stale, vm-start, vm-stop, policy-apply.</summary>
    public required string Action { get; init; }
    public string? Path { get; init; }
    public string? Rights { get; init; }
    public string? GrantId { get; init; }
    /// <summary>"ok" or "refused".</summary>
    public required string Result { get; init; }
    public string? Detail { get; init; }
    public required string PrevHash { get; init; }
    public required string Hash { get; init; }
}

/// <summary>Answer to GET /v1/audit/verify.</summary>
public sealed record AuditVerifyResult
{
    public required bool Ok { get; init; }
    public required long Records { get; init; }
    /// <summary>The sequence number of the first bad record, when not ok.</summary>
    public long? FirstBadSeq { get; init; }
    public string? Reason { get; init; }
}

/// <summary>One problem in a policy file.</summary>
public sealed record PolicyErrorDto
{
    public required string File { get; init; }
    public required int Line { get; init; }
    public required int Column { get; init; }
    public required string Message { get; init; }
}

/// <summary>POST /v1/policy/check.</summary>
public sealed record PolicyCheckRequest
{
    /// <summary>Directory to check; null for the broker's own policies directory.</summary>
    public string? Dir { get; init; }
}

/// <summary>Answer to a policy check.</summary>
public sealed record PolicyCheckResult
{
    public required bool Ok { get; init; }
    public required string Dir { get; init; }
    public required int Vms { get; init; }
    public required int Grants { get; init; }
    public required IReadOnlyList<PolicyErrorDto> Errors { get; init; }
}

/// <summary>One change that `policy apply` makes (or made).</summary>
public sealed record PolicyChangeDto
{
    /// <summary>"add", "remove" or "update".</summary>
    public required string Op { get; init; }
    public required string Vm { get; init; }
    public required string Path { get; init; }
    /// <summary>Rights after the change (for remove: the rights removed).</summary>
    public required string Rights { get; init; }
    /// <summary>For update: the rights before.</summary>
    public string? OldRights { get; init; }
    public string? ExpiresIn { get; init; }
    public string? GrantId { get; init; }
    public required string File { get; init; }
}

/// <summary>Answer to GET /v1/policy/diff and POST /v1/policy/apply.</summary>
public sealed record PolicyDiffResult
{
    public required bool Applied { get; init; }
    public required IReadOnlyList<PolicyChangeDto> Changes { get; init; }
}

/// <summary>POST /v1/tokens/verify and /v1/tokens/redeem.</summary>
public sealed record TokenRequest
{
    public required string Token { get; init; }
    /// <summary>redeem: the VM that receives the access. verify: the holder to check against.</summary>
    public string? Vm { get; init; }
    /// <summary>The path asked for; defaults to the path the token covers.</summary>
    public string? Path { get; init; }
    /// <summary>The rights asked for; defaults to what the token allows.</summary>
    public string? Rights { get; init; }
}

/// <summary>Answer to POST /v1/tokens/verify.</summary>
public sealed record TokenVerifyResult
{
    public required bool Valid { get; init; }
    public string? Reason { get; init; }
    public required string GrantId { get; init; }
    public string? EffectiveRights { get; init; }
    public DateTimeOffset? NotAfter { get; init; }
}

/// <summary>A decoded token, for `token inspect`. Never carries the tag.</summary>
public sealed record TokenInfoDto
{
    public required int Version { get; init; }
    public required uint Epoch { get; init; }
    public required string GrantId { get; init; }
    public required bool Sealed { get; init; }
    public required IReadOnlyList<CaveatDto> Caveats { get; init; }
    /// <summary>Revocation id of the token's last chain step: revoke it to kill this token and its descendants.</summary>
    public required string RevocationId { get; init; }
    /// <summary>The broker's verdict when it could be asked, else null.</summary>
    public TokenVerifyResult? Broker { get; init; }
}

/// <summary>One caveat: its type name and value as text.</summary>
public sealed record CaveatDto
{
    public required string Type { get; init; }
    public required string Value { get; init; }
}

/// <summary>Answer to POST /v1/tokens/attenuate-free operations: a new token.</summary>
public sealed record TokenResult
{
    public required string Token { get; init; }
}

/// <summary>POST /v1/revocations: revoke one token (and its descendants) by revocation id.</summary>
public sealed record RevocationRequest
{
    public required string RevocationId { get; init; }
}

/// <summary>A VM the broker knows (declared in policies or named by a grant).</summary>
public sealed record VmDto
{
    public required string Name { get; init; }
    public required bool Declared { get; init; }
    public string? PolicyFile { get; init; }
    public required int Grants { get; init; }

    /// <summary>Whether the policy has a <c>[vm]</c> table, so that <c>spectrum-vm run</c> can boot it.</summary>
    public bool Bootable { get; init; }

    /// <summary>"cloud-hypervisor" or "qemu" when bootable, else null.</summary>
    public string? Vmm { get; init; }

    /// <summary>One of <see cref="VmStates"/>.</summary>
    public string State { get; init; } = VmStates.Stopped;

    /// <summary>The VMM process id while starting, running or stopping; else null.</summary>
    public int? Pid { get; init; }

    /// <summary>The virtiofsd process id while running; else null.</summary>
    public int? VirtiofsdPid { get; init; }

    /// <summary>When the VMM was started, while it runs; else null.</summary>
    public DateTimeOffset? StartedAt { get; init; }

    /// <summary>Seconds since <see cref="StartedAt"/>, while it runs; else null.</summary>
    public double? UptimeSeconds { get; init; }

    /// <summary>How the last run ended (one of <see cref="VmExitReasons"/>), or null if it never ran under this broker.</summary>
    public string? LastExit { get; init; }
}

/// <summary>The values of <see cref="VmDto.State"/>.</summary>
public static class VmStates
{
    public const string Stopped = "stopped";
    public const string Starting = "starting";
    public const string Running = "running";
    public const string Stopping = "stopping";
}

/// <summary>The values of <see cref="VmDto.LastExit"/> and <see cref="VmStopResult.Exit"/>.</summary>
public static class VmExitReasons
{
    /// <summary>The guest powered itself off.</summary>
    public const string Poweroff = "poweroff";

    /// <summary>Stopped gracefully on request.</summary>
    public const string Stopped = "stopped";

    /// <summary>Stopped on request, but killed after the graceful timeout.</summary>
    public const string Killed = "killed";

    /// <summary>The VMM or its virtiofsd died unexpectedly.</summary>
    public const string Crashed = "crashed";
}

/// <summary>POST /v1/vms/{vm}/run: answered once the VMM runs and the guest was told to boot.</summary>
public sealed record VmRunResult
{
    public required VmDto Vm { get; init; }

    /// <summary>True when the VM was already running (run is idempotent).</summary>
    public required bool AlreadyRunning { get; init; }
}

/// <summary>POST /v1/vms/{vm}/stop: graceful shutdown, forced after the timeout.</summary>
public sealed record VmStopRequest
{
    /// <summary>Seconds to wait for a graceful shutdown before killing the VMM. Default 10.</summary>
    public double? TimeoutSeconds { get; init; }
}

/// <summary>Answer to POST /v1/vms/{vm}/stop, once the VMM and virtiofsd are gone.</summary>
public sealed record VmStopResult
{
    public required VmDto Vm { get; init; }

    /// <summary>False when the VM was not running (stop is idempotent).</summary>
    public required bool WasRunning { get; init; }

    /// <summary>How it ended (one of <see cref="VmExitReasons"/>), or null when it was not running.</summary>
    public string? Exit { get; init; }

    /// <summary>How many session grants were revoked because it stopped.</summary>
    public required int SessionGrantsRevoked { get; init; }
}

/// <summary>POST /v1/vms/{vm}/open: grant PATH for the session, then run the VM.</summary>
public sealed record VmOpenRequest
{
    public required string Path { get; init; }

    /// <summary>"ro", "rw" or a comma list; default "ro".</summary>
    public string? Rights { get; init; }
}

/// <summary>Answer to POST /v1/vms/{vm}/open.</summary>
public sealed record VmOpenResult
{
    public required GrantDto Grant { get; init; }

    public required VmDto Vm { get; init; }

    public required bool AlreadyRunning { get; init; }
}

/// <summary>GET /v1/status.</summary>
public sealed record StatusDto
{
    public required string Version { get; init; }
    public required string Tree { get; init; }
    public required string StateDir { get; init; }
    public required string RuntimeDir { get; init; }
    public required string Policies { get; init; }
    public required string Socket { get; init; }
    public required int SchemaVersion { get; init; }
    public required uint KeyEpoch { get; init; }
    public required long ActiveGrants { get; init; }
    public required DateTimeOffset StartedAt { get; init; }
}

/// <summary>Every error answer: HTTP status plus this body.</summary>
public sealed record ErrorDto
{
    /// <summary>Machine-readable: bad_request, forbidden, not_found, conflict, launch_failed, internal.</summary>
    public required string Code { get; init; }
    /// <summary>One line naming the cause and the fix.</summary>
    public required string Message { get; init; }
}
