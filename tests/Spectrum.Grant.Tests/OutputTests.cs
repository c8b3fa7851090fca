using System.Text.Json;
using Spectrum.Broker.Contracts;

namespace Spectrum.Grant.Tests;

/// <summary>How answers are rendered and statuses mapped, against canned answers (see <see cref="FakeBroker"/>).</summary>
public class OutputTests
{
    private static readonly FixedClock Clock = new(new DateTimeOffset(2025, 1, 31, 12, 0, 0, TimeSpan.Zero));

    private static readonly GrantDto Grant = new()
    {
        Id = "g_00000000000000a1",
        Vm = "editor",
        Path = "Documents/Work",
        Kind = "directory",
        Rights = "rw",
        Persistence = "persistent",
        Source = "cli",
        SourceDetail = "uid:1000",
        CreatedAt = Clock.Now.AddHours(-1),
        ExpiresAt = Clock.Now.AddSeconds(28_740),
        State = "active",
    };

    private static string Json<T>(T value, System.Text.Json.Serialization.Metadata.JsonTypeInfo<T> type) => JsonSerializer.Serialize(value, type);

    [Fact]
    public async Task List_Human_PrintsAlignedTableWithRelativeExpiry()
    {
        await using var broker = new FakeBroker().On("GET", "/v1/grants", 200, Json<IReadOnlyList<GrantDto>>([Grant, Grant with { Id = "g_2", Vm = "mail", Path = ".", ExpiresAt = null, Rights = "ro" }], BrokerJson.Default.IReadOnlyListGrantDto));
        var run = await CliRun.RunAsync(["list"], socket: broker.SocketPath, time: Clock);
        run.AssertOk();
        Assert.Equal(
            [
                "ID                  VM      PATH            KIND       RIGHTS  SOURCE  EXPIRES                          STATE",
                "g_00000000000000a1  editor  Documents/Work  directory  rw      cli     2025-01-31 19:59:00Z (in 7h59m)  active",
                "g_2                 mail    .               directory  ro      cli     never                            active",
            ],
            run.StdoutLines);
    }

    [Fact]
    public async Task List_Json_PrintsExactlyTheDtoAndPassesFiltersEscaped()
    {
        var body = Json<IReadOnlyList<GrantDto>>([Grant], BrokerJson.Default.IReadOnlyListGrantDto);
        await using var broker = new FakeBroker().On("GET", "/v1/grants", 200, body);
        var run = await CliRun.RunAsync(["list", "--vm", "editor", "--path", "My Docs/a&b=c", "--all", "--json"], socket: broker.SocketPath);
        run.AssertOk();
        Assert.Equal(body + "\n", run.Stdout);
        Assert.Equal("GET /v1/grants?vm=editor&path=My%20Docs%2Fa%26b%3Dc&all=true", Assert.Single(broker.Requests).Request);
    }

    [Fact]
    public async Task List_Empty_SaysNoGrants()
    {
        await using var broker = new FakeBroker().On("GET", "/v1/grants", 200, "[]");
        var run = await CliRun.RunAsync(["list"], socket: broker.SocketPath);
        run.AssertOk();
        Assert.Equal("no grants\n", run.Stdout);
    }

    [Fact]
    public async Task Grant_WithToken_SendsCanonicalRequestAndPrintsTokenOnItsOwnLine()
    {
        var created = new GrantCreated { Grant = Grant, Token = "spg1_abc" };
        await using var broker = new FakeBroker().On("POST", "/v1/grants", 200, Json(created, BrokerJson.Default.GrantCreated));
        var run = await CliRun.RunAsync(["grant", "editor", "Documents/Work", "--rights", "write,read,create,delete,rename,setattr", "--expires", "90m", "--token"], socket: broker.SocketPath, time: Clock);
        run.AssertOk();
        Assert.Equal("granted g_00000000000000a1: editor Documents/Work rw (directory, persistent, expires 2025-01-31 19:59:00Z (in 7h59m))", run.StdoutLines[0]);
        Assert.Equal("token: spg1_abc", run.StdoutLines[1]);
        Assert.Contains("shown once", run.StdoutLines[2], StringComparison.Ordinal);
        var sent = JsonSerializer.Deserialize(Assert.Single(broker.Requests).Body, BrokerJson.Default.GrantRequest)!;
        Assert.Equal(new GrantRequest { Vm = "editor", Path = "Documents/Work", Rights = "rw", Expires = "1h30m", Token = true }, sent);
    }

    [Fact]
    public async Task Show_NotFound_ExitsOneWithTheBrokersMessage()
    {
        await using var broker = new FakeBroker().On("GET", "/v1/grants/g_404", 404, """{"code":"not_found","message":"no grant g_404; list grants with `spectrum-grant list --all`"}""");
        var line = (await CliRun.RunAsync(["show", "g_404"], socket: broker.SocketPath)).AssertFailed(1);
        Assert.Equal("spectrum-grant: no grant g_404; list grants with `spectrum-grant list --all`", line);
    }

    [Fact]
    public async Task BrokerBadRequest_ExitsTwo()
    {
        await using var broker = new FakeBroker().On("POST", "/v1/grants", 400, """{"code":"bad_request","message":"no such file Documents/x; check the path"}""");
        (await CliRun.RunAsync(["grant", "editor", "Documents/x"], socket: broker.SocketPath)).AssertFailed(2);
    }

    [Fact]
    public async Task Revoke_ById_UsesDeleteAndListsRevoked()
    {
        await using var broker = new FakeBroker().On("DELETE", "/v1/grants/g_1", 200, """{"revoked":["g_1","g_2"]}""");
        var run = await CliRun.RunAsync(["revoke", "g_1"], socket: broker.SocketPath);
        run.AssertOk();
        Assert.Equal(["revoked g_1", "revoked g_2"], run.StdoutLines);
    }

    [Fact]
    public async Task AuditVerify_Broken_ExitsOneNamingTheRecord()
    {
        await using var broker = new FakeBroker().On("GET", "/v1/audit/verify", 200, """{"ok":false,"records":10,"first_bad_seq":7,"reason":"hash mismatch"}""");
        var line = (await CliRun.RunAsync(["audit", "verify"], socket: broker.SocketPath)).AssertFailed(1);
        Assert.StartsWith("spectrum-grant: audit chain is broken at record 7: hash mismatch; ", line, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Audit_PassesFiltersAndPrintsTable()
    {
        var record = new AuditRecordDto
        {
            Seq = 12, Time = Clock.Now, Actor = "uid:1000", Vm = "editor", Action = "grant", Path = "Documents",
            Rights = "rw", GrantId = "g_1", Result = "ok", PrevHash = "aa", Hash = "bb",
        };
        await using var broker = new FakeBroker().On("GET", "/v1/audit", 200, Json<IReadOnlyList<AuditRecordDto>>([record], BrokerJson.Default.IReadOnlyListAuditRecordDto));
        var run = await CliRun.RunAsync(["audit", "--vm", "editor", "--path", "Documents/**", "--action", "grant", "--since", "1h", "--limit", "5"], socket: broker.SocketPath);
        run.AssertOk();
        Assert.Equal("GET /v1/audit?vm=editor&path=Documents%2F%2A%2A&action=grant&since=1h&limit=5", Assert.Single(broker.Requests).Request);
        Assert.Equal(
            [
                "SEQ  TIME                  ACTOR     VM      ACTION  PATH       RIGHTS  GRANT  RESULT",
                "12   2025-01-31 12:00:00Z  uid:1000  editor  grant   Documents  rw      g_1    ok",
            ],
            run.StdoutLines);
    }

    [Fact]
    public async Task PolicyCheck_Errors_PrintedAsFileLineColumnAndExitOne()
    {
        await using var broker = new FakeBroker().On("POST", "/v1/policy/check", 200, """
            {"ok":false,"dir":"/p","vms":1,"grants":0,"errors":[{"file":"vms/editor.toml","line":3,"column":1,"message":"unknown key 'rigths'"}]}
            """);
        var run = await CliRun.RunAsync(["policy", "check"], socket: broker.SocketPath);
        Assert.Equal(1, run.ExitCode);
        Assert.Equal(["vms/editor.toml:3:1: unknown key 'rigths'"], run.StdoutLines);
        Assert.Single(run.StderrLines);
    }

    [Fact]
    public async Task PolicyDiff_PrintsPlusMinusTildeLines()
    {
        await using var broker = new FakeBroker().On("GET", "/v1/policy/diff", 200, """
            {"applied":false,"changes":[
              {"op":"add","vm":"editor","path":"Documents","rights":"rw","old_rights":null,"expires_in":null,"grant_id":null,"file":"vms/editor.toml"},
              {"op":"remove","vm":"mail","path":"Mail","rights":"ro","old_rights":null,"expires_in":null,"grant_id":"g_1","file":"vms/mail.toml"},
              {"op":"update","vm":"editor","path":"Notes","rights":"rw","old_rights":"ro","expires_in":null,"grant_id":"g_2","file":"vms/editor.toml"}]}
            """);
        var run = await CliRun.RunAsync(["policy", "diff"], socket: broker.SocketPath);
        run.AssertOk();
        Assert.Equal(["+ editor Documents rw", "- mail Mail ro", "~ editor Notes ro -> rw"], run.StdoutLines);
    }
}
