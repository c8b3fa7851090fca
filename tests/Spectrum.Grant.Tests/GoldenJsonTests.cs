using System.Text.Json;
using Spectrum.Broker.Contracts;
using Spectrum.Capabilities;
using static Spectrum.Tests.Shared.JsonShape;

namespace Spectrum.Grant.Tests;

/// <summary>
/// Freezes the <c>--json</c> shapes: the exact property names, in order, recursively, of every
/// command's output, taken from the real broker. A shape may only change together with these goldens
/// and the README. Nested objects show as <c>parent.child</c>, array elements as <c>name[].child</c>.
/// </summary>
public sealed class GoldenJsonTests : LiveBrokerTest
{
    private static readonly string[] Grant = SharedGoldens.Grant;

    private static readonly string[] GrantCreated = ["grant", .. Nest("grant", Grant), "token"];

    private static readonly string[] RevokeResult = ["revoked"];

    private static readonly string[] WhoCanEntry = ["vm", "rights", "grant_id", "via", "source", "source_detail", "expires_at"];

    private static readonly string[] WhoCanResult = ["path", "entries", .. Nest("entries[]", WhoCanEntry)];

    private static readonly string[] AuditRecord =
        ["seq", "time", "actor", "vm", "action", "path", "rights", "grant_id", "result", "detail", "prev_hash", "hash"];

    private static readonly string[] AuditVerifyResult = ["ok", "records", "first_bad_seq", "reason"];

    private static readonly string[] PolicyError = ["file", "line", "column", "message"];

    private static readonly string[] PolicyCheckResult = ["ok", "dir", "vms", "grants", "errors", .. Nest("errors[]", PolicyError)];

    private static readonly string[] PolicyChange = ["op", "vm", "path", "rights", "old_rights", "expires_in", "grant_id", "file"];

    private static readonly string[] PolicyDiffResult = ["applied", "changes", .. Nest("changes[]", PolicyChange)];

    private static readonly string[] TokenVerifyResult = ["valid", "reason", "grant_id", "effective_rights", "not_after"];

    private static readonly string[] Caveat = ["type", "value"];

    private static readonly string[] TokenInfoWithoutVerdict =
        ["version", "epoch", "grant_id", "sealed", "caveats", .. Nest("caveats[]", Caveat), "revocation_id", "broker"];

    private static readonly string[] TokenInfo = [.. TokenInfoWithoutVerdict, .. Nest("broker", TokenVerifyResult)];

    private static readonly string[] TokenResult = ["token"];

    private static readonly string[] Vm = SharedGoldens.Vm;

    private static readonly string[] Status =
        ["version", "tree", "state_dir", "runtime_dir", "policies", "socket", "schema_version", "key_epoch", "active_grants", "started_at"];

    private static readonly string[] Error = ["code", "message"];

    /// <summary>Runs the command with --json and checks its output against the golden shape.</summary>
    private async Task<string> AssertCommandShapeAsync(string[] golden, params string[] args)
    {
        var run = await Cli([.. args, "--json"]);
        run.AssertOk();
        AssertShape(golden, run.Stdout);
        return run.Stdout;
    }

    [Fact]
    public void Shape_ListsNestedAndArrayPropertiesInOrder()
    {
        Assert.Equal(["b", "a", "a.y", "a.x", "c", "c[].z"], JsonShape.Of(JsonDocument.Parse("""{"b":1,"a":{"y":null,"x":[1]},"c":[{"z":1},{"z":2}]}""").RootElement));
        Assert.Equal(["[]", "[].k"], JsonShape.Of(JsonDocument.Parse("""[{"k":1}]""").RootElement));
    }

    [Fact]
    public async Task GrantCommands_Json_MatchTheGoldenShapes()
    {
        var created = await AssertCommandShapeAsync(GrantCreated, "grant", "editor", "Documents", "--rights", "rw");
        var id = JsonSerializer.Deserialize(created, BrokerJson.Default.GrantCreated)!.Grant.Id;
        await AssertCommandShapeAsync(GrantCreated, "grant", "viewer", "Pictures/wallpaper.png", "--token", "--expires", "1h");
        await AssertCommandShapeAsync(Grant, "show", id);
        await AssertCommandShapeAsync(Each(Grant), "list");
        await AssertCommandShapeAsync(WhoCanResult, "who-can", "Documents/Work");
        await AssertCommandShapeAsync(RevokeResult, "revoke", id);
        await AssertCommandShapeAsync(RevokeResult, "revoke", "--vm", "viewer", "--path", "Pictures");
        await AssertCommandShapeAsync(Each(Grant), "list", "--all");
        await AssertCommandShapeAsync(Grant, "show", id);
    }

    [Fact]
    public async Task AuditVmAndStatus_Json_MatchTheGoldenShapes()
    {
        await OkAsync("grant", "editor", "Documents");
        await OkAsync("revoke", "--vm", "editor");
        await AssertCommandShapeAsync(Each(AuditRecord), "audit");
        await AssertCommandShapeAsync(AuditVerifyResult, "audit", "verify");
        await AssertCommandShapeAsync(Each(Vm), "vm", "list");
        await AssertCommandShapeAsync(Status, "status");
    }

    [Fact]
    public async Task PolicyCheckAndDiff_Json_MatchTheGoldenShapes()
    {
        Dirs.Policy("editor", "[[grant]]\npath = \"Documents\"\nrights = \"rw\"\n");
        await AssertCommandShapeAsync([.. PolicyCheckResult.Where(n => !n.StartsWith("errors[]", StringComparison.Ordinal))], "policy", "check");
        await AssertCommandShapeAsync(PolicyDiffResult, "policy", "diff");
    }

    [Fact]
    public async Task PolicyCheckWithErrors_Json_MatchesTheGoldenShape()
    {
        var bad = Path.Combine(Dirs.Root, "bad");
        Directory.CreateDirectory(Path.Combine(bad, "vms"));
        File.WriteAllText(Path.Combine(bad, "vms", "x.toml"), "[[grant]]\npath = 1\n");
        var failed = await Cli("policy", "check", bad, "--json");
        Assert.True(failed.ExitCode == 1, $"exit {failed.ExitCode}: {failed.Stdout}");
        AssertShape(PolicyCheckResult, failed.Stdout);
    }

    [Fact]
    public async Task PolicyApply_Json_MatchesTheGoldenShape()
    {
        Dirs.Policy("editor", "[[grant]]\npath = \"Documents\"\nrights = \"rw\"\n");
        await AssertCommandShapeAsync(PolicyDiffResult, "policy", "apply");
    }

    [Fact]
    public async Task TokenAttenuateRevokeAndOfflineInspect_Json_MatchTheGoldenShapes()
    {
        var token = (await Broker.JsonAsync(BrokerJson.Default.GrantCreated, "grant", "editor", "Documents", "--token")).Token!;
        var narrowed = JsonSerializer.Deserialize(
            await AssertCommandShapeAsync(TokenResult, "token", "attenuate", token, "--path", "Documents/Work"),
            BrokerJson.Default.TokenResult)!.Token;

        // Without a broker the verdict is null; the key is still there.
        var offline = await CliRun.RunAsync(["token", "inspect", token, "--json"]);
        offline.AssertOk();
        AssertShape(TokenInfoWithoutVerdict, offline.Stdout);

        await AssertCommandShapeAsync(RevokeResult, "token", "revoke", CapabilityToken.Decode(narrowed).LastRevocationId.ToString());
    }

    [Fact]
    public async Task TokenInspectAndVerify_Json_MatchTheGoldenShapes()
    {
        var token = (await Broker.JsonAsync(BrokerJson.Default.GrantCreated, "grant", "editor", "Documents", "--token")).Token!;
        await AssertCommandShapeAsync(TokenInfo, "token", "inspect", token);
        await AssertCommandShapeAsync(TokenVerifyResult, "token", "verify", token);
    }

    [Fact]
    public async Task ErrorAnswers_MatchTheGoldenShape()
    {
        foreach (var (method, path) in new[] { (HttpMethod.Get, "/v1/grants/g_0000000000000000"), (HttpMethod.Get, "/v1/nothing-here"), (HttpMethod.Get, "/v1/audit?limit=0") })
        {
            var (status, body) = await Broker.HttpAsync(method, path);
            Assert.InRange(status, 400, 499);
            AssertShape(Error, body);
        }
    }

    [Fact]
    public async Task CliJson_IsTheControlApisOwnShape()
    {
        var id = (await Broker.JsonAsync(BrokerJson.Default.GrantCreated, "grant", "editor", "Documents")).Grant.Id;
        foreach (var (args, route) in new (string[], string)[]
                 {
                     (["show", id], $"/v1/grants/{id}"),
                     (["list"], "/v1/grants"),
                     (["who-can", "Documents"], "/v1/who-can?path=Documents"),
                     (["audit"], "/v1/audit"),
                     (["audit", "verify"], "/v1/audit/verify"),
                     (["vm", "list"], "/v1/vms"),
                     (["policy", "diff"], "/v1/policy/diff"),
                 })
        {
            var run = await OkAsync([.. args, "--json"]);
            var (status, body) = await Broker.HttpAsync(HttpMethod.Get, route);
            Assert.Equal(200, status);
            using var cli = JsonDocument.Parse(run.Stdout);
            using var api = JsonDocument.Parse(body);
            Assert.Equal(JsonShape.Of(api.RootElement), JsonShape.Of(cli.RootElement));
        }
    }

    /// <summary>
    /// The same goldens against the contract types themselves, every optional member filled in, so
    /// that a renamed or reordered property fails here even where no command prints it in a test run.
    /// </summary>
    [Fact]
    public void ContractTypes_Serialize_ToTheGoldenShapes()
    {
        var now = new DateTimeOffset(2026, 11, 25, 9, 0, 0, TimeSpan.Zero);
        var grant = new GrantDto
        {
            Id = "g_0123456789abcdef", Vm = "editor", Path = "Documents", Kind = "directory", Rights = "rw", Persistence = "persistent",
            Source = "cli", SourceDetail = "uid:1000", Parent = "g_1", CreatedAt = now, ExpiresAt = now, State = "active", EndedAt = now,
            Identity = new FileIdentityDto { Dev = 1, Ino = 2, Handle = "1:ab" },
        };
        var verdict = new Broker.Contracts.TokenVerifyResult { Valid = true, Reason = "r", GrantId = "g_1", EffectiveRights = "ro", NotAfter = now };
        AssertShape(Grant, JsonSerializer.Serialize(grant, BrokerJson.Default.GrantDto));
        AssertShape(GrantCreated, JsonSerializer.Serialize(new Broker.Contracts.GrantCreated { Grant = grant, Token = "spg1_x" }, BrokerJson.Default.GrantCreated));
        AssertShape(RevokeResult, JsonSerializer.Serialize(new Broker.Contracts.RevokeResult { Revoked = ["g_1"] }, BrokerJson.Default.RevokeResult));
        AssertShape(WhoCanResult, JsonSerializer.Serialize(
            new Broker.Contracts.WhoCanResult { Path = "p", Entries = [new Broker.Contracts.WhoCanEntry { Vm = "v", Rights = "ro", GrantId = "g", Via = "p", Source = "cli", SourceDetail = "d", ExpiresAt = now }] },
            BrokerJson.Default.WhoCanResult));
        AssertShape(Each(AuditRecord), JsonSerializer.Serialize<IReadOnlyList<AuditRecordDto>>(
            [new AuditRecordDto { Seq = 1, Time = now, Actor = "uid:0", Vm = "v", Action = "grant", Path = "p", Rights = "ro", GrantId = "g", Result = "ok", Detail = "d", PrevHash = "0", Hash = "1" }],
            BrokerJson.Default.IReadOnlyListAuditRecordDto));
        AssertShape(AuditVerifyResult, JsonSerializer.Serialize(new Broker.Contracts.AuditVerifyResult { Ok = false, Records = 2, FirstBadSeq = 2, Reason = "r" }, BrokerJson.Default.AuditVerifyResult));
        AssertShape(PolicyCheckResult, JsonSerializer.Serialize(
            new Broker.Contracts.PolicyCheckResult { Ok = false, Dir = "/p", Vms = 0, Grants = 0, Errors = [new PolicyErrorDto { File = "f", Line = 1, Column = 2, Message = "m" }] },
            BrokerJson.Default.PolicyCheckResult));
        AssertShape(PolicyDiffResult, JsonSerializer.Serialize(
            new Broker.Contracts.PolicyDiffResult { Applied = true, Changes = [new PolicyChangeDto { Op = "update", Vm = "v", Path = "p", Rights = "rw", OldRights = "ro", ExpiresIn = "8h", GrantId = "g", File = "vms/v.toml" }] },
            BrokerJson.Default.PolicyDiffResult));
        AssertShape(TokenVerifyResult, JsonSerializer.Serialize(verdict, BrokerJson.Default.TokenVerifyResult));
        AssertShape(TokenInfo, JsonSerializer.Serialize(
            new TokenInfoDto { Version = 1, Epoch = 1, GrantId = "g", Sealed = false, Caveats = [new CaveatDto { Type = "path", Value = "p" }], RevocationId = "00", Broker = verdict },
            BrokerJson.Default.TokenInfoDto));
        AssertShape(TokenResult, JsonSerializer.Serialize(new Broker.Contracts.TokenResult { Token = "spg1_x" }, BrokerJson.Default.TokenResult));
        AssertShape(Each(Vm), JsonSerializer.Serialize<IReadOnlyList<VmDto>>(
            [
                new VmDto
                {
                    Name = "v", Declared = true, PolicyFile = "vms/v.toml", Grants = 1, Bootable = true, Vmm = "qemu", State = VmStates.Running,
                    Pid = 1, VirtiofsdPid = 2, StartedAt = now, UptimeSeconds = 3, LastExit = VmExitReasons.Stopped,
                },
            ],
            BrokerJson.Default.IReadOnlyListVmDto));
        AssertShape(Status, JsonSerializer.Serialize(
            new StatusDto { Version = "1", Tree = "/t", StateDir = "/s", RuntimeDir = "/r", Policies = "/p", Socket = "/s.sock", SchemaVersion = 1, KeyEpoch = 1, ActiveGrants = 0, StartedAt = now },
            BrokerJson.Default.StatusDto));
        AssertShape(Error, JsonSerializer.Serialize(new ErrorDto { Code = "not_found", Message = "m" }, BrokerJson.Default.ErrorDto));
    }
}
