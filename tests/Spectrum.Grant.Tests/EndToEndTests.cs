using System.Text.RegularExpressions;
using Spectrum.Broker.Contracts;

namespace Spectrum.Grant.Tests;

/// <summary>
/// <c>spectrum-grant</c> against the real daemon on its real socket with a real SQLite file: every
/// command's effect is checked through another command (revoke, then list and audit).
/// </summary>
public sealed partial class EndToEndTests : LiveBrokerTest
{
    [GeneratedRegex("^granted (g_[0-9a-f]{16}): editor Documents rw \\(directory, persistent, expires never\\)$")]
    private static partial Regex GrantedLine();

    private async Task<GrantDto> GrantAsync(string vm, string path, string rights = "ro") =>
        (await Broker.JsonAsync(BrokerJson.Default.GrantCreated, "grant", vm, path, "--rights", rights)).Grant;

    [Fact]
    public async Task Grant_Human_IsListedShownAndExplainedByWhoCan()
    {
        var run = await OkAsync("grant", "editor", "Documents", "--rights", "rw");
        var match = GrantedLine().Match(Assert.Single(run.StdoutLines));
        Assert.True(match.Success, run.Stdout);
        var id = match.Groups[1].Value;

        var list = await OkAsync("list");
        Assert.Equal(2, list.StdoutLines.Count);
        Assert.Matches("^ID +VM +PATH +KIND +RIGHTS +SOURCE +EXPIRES +STATE$", list.StdoutLines[0]);
        Assert.Equal([id, "editor", "Documents", "directory", "rw", "cli", "never", "active"], Cells(list.StdoutLines[1]));

        var show = (await OkAsync("show", id)).StdoutLines;
        Assert.Equal(["id:", id], Cells(show[0]));
        Assert.Equal(["path:", "Documents"], Cells(show.Single(l => l.StartsWith("path:", StringComparison.Ordinal))));
        Assert.Matches("^source: +cli \\(uid:[0-9]+\\)$", show.Single(l => l.StartsWith("source:", StringComparison.Ordinal)));
        Assert.Matches("^identity: +dev [0-9]+ ino [0-9]+ handle ", show.Single(l => l.StartsWith("identity:", StringComparison.Ordinal)));

        var whoCan = (await OkAsync("who-can", "Documents/Work/notes.txt")).StdoutLines;
        Assert.Equal(2, whoCan.Count);
        Assert.Equal(["editor", "rw", "Documents", id], Cells(whoCan[1])[..4]);
        Assert.Equal("no VM can reach .ssh/id_ed25519\n", (await OkAsync("who-can", ".ssh/id_ed25519")).Stdout);
    }

    [Fact]
    public async Task Grant_Json_IsWhatShowListAndWhoCanReport()
    {
        var created = await Broker.JsonAsync(BrokerJson.Default.GrantCreated, "grant", "editor", "Documents/report.odt", "--rights", "read,write");
        Assert.Null(created.Token);
        var g = created.Grant;
        Assert.Matches("^g_[0-9a-f]{16}$", g.Id);
        Assert.Equal(("editor", "Documents/report.odt", "file", "read,write", "persistent", "cli", "active"), (g.Vm, g.Path, g.Kind, g.Rights, g.Persistence, g.Source, g.State));
        Assert.NotNull(g.Identity);
        Assert.Null(g.ExpiresAt);

        Assert.Equal(g, await Broker.JsonAsync(BrokerJson.Default.GrantDto, "show", g.Id));
        Assert.Equal(g, Assert.Single(await Broker.JsonAsync(BrokerJson.Default.IReadOnlyListGrantDto, "list")));
        var entry = Assert.Single((await Broker.JsonAsync(BrokerJson.Default.WhoCanResult, "who-can", "Documents/report.odt")).Entries);
        Assert.Equal(("editor", "read,write", g.Id, "Documents/report.odt", "cli"), (entry.Vm, entry.Rights, entry.GrantId, entry.Via, entry.Source));
    }

    [Fact]
    public async Task Grant_Expires_ShowsTheExpiryAndSession()
    {
        var g = (await Broker.JsonAsync(BrokerJson.Default.GrantCreated, "grant", "viewer", "Pictures", "--expires", "2h", "--session")).Grant;
        Assert.Equal("session", g.Persistence);
        Assert.NotNull(g.ExpiresAt);
        Assert.InRange(g.ExpiresAt.Value - g.CreatedAt, TimeSpan.FromHours(2) - TimeSpan.FromSeconds(5), TimeSpan.FromHours(2) + TimeSpan.FromSeconds(5));
    }

    [Fact]
    public async Task Revoke_ById_IsGoneFromListAndInTheAudit()
    {
        var keep = await GrantAsync("editor", "Pictures");
        var g = await GrantAsync("editor", "Documents", "rw");

        var run = await OkAsync("revoke", g.Id);
        Assert.Equal($"revoked {g.Id}\n", run.Stdout);

        Assert.Equal([keep.Id], (await Broker.JsonAsync(BrokerJson.Default.IReadOnlyListGrantDto, "list")).Select(x => x.Id));
        Assert.DoesNotContain(g.Id, (await OkAsync("list")).Stdout, StringComparison.Ordinal);
        var ended = await Broker.JsonAsync(BrokerJson.Default.GrantDto, "show", g.Id);
        Assert.Equal("revoked", ended.State);
        Assert.NotNull(ended.EndedAt);
        Assert.Contains(await Broker.JsonAsync(BrokerJson.Default.IReadOnlyListGrantDto, "list", "--all"), x => x.Id == g.Id && x.State == "revoked");

        var audit = Assert.Single(await Broker.JsonAsync(BrokerJson.Default.IReadOnlyListAuditRecordDto, "audit", "--action", "revoke"));
        Assert.Equal((g.Id, "editor", "Documents", "rw", "ok"), (audit.GrantId, audit.Vm, audit.Path, audit.Rights, audit.Result));

        // Revoking it again finds nothing active.
        Assert.NotEqual(0, (await Cli("revoke", g.Id)).ExitCode);
    }

    [Fact]
    public async Task RevokeVmPath_RevokesOnlyThatVmsGrantsAtOrBelowThePath()
    {
        var work = await GrantAsync("editor", "Documents/Work", "rw");
        var report = await GrantAsync("editor", "Documents/report.odt");
        var pictures = await GrantAsync("editor", "Pictures");
        var other = await GrantAsync("viewer", "Documents/Work");

        var result = await Broker.JsonAsync(BrokerJson.Default.RevokeResult, "revoke", "--vm", "editor", "--path", "Documents");
        Assert.Equal(new[] { work.Id, report.Id }.Order(), result.Revoked.Order());

        var left = await Broker.JsonAsync(BrokerJson.Default.IReadOnlyListGrantDto, "list");
        Assert.Equal(new[] { pictures.Id, other.Id }.Order(), left.Select(g => g.Id).Order());
        Assert.Equal(
            new[] { work.Id, report.Id }.Order(),
            (await Broker.JsonAsync(BrokerJson.Default.IReadOnlyListAuditRecordDto, "audit", "--action", "revoke")).Select(r => r.GrantId).Order());

        // --vm alone takes the rest of that VM, and nothing of another VM.
        Assert.Equal($"revoked {pictures.Id}\n", (await OkAsync("revoke", "--vm", "editor")).Stdout);
        Assert.Equal([other.Id], (await Broker.JsonAsync(BrokerJson.Default.IReadOnlyListGrantDto, "list")).Select(g => g.Id));

        // Nothing left to match: refused as not found (exit 1, one line), and nothing else is touched.
        Assert.Contains("editor", (await Cli("revoke", "--vm", "editor")).AssertFailed(1), StringComparison.Ordinal);
        Assert.Contains("Pictures", (await Cli("revoke", "--vm", "viewer", "--path", "Pictures")).AssertFailed(1), StringComparison.Ordinal);
        Assert.Equal([other.Id], (await Broker.JsonAsync(BrokerJson.Default.IReadOnlyListGrantDto, "list")).Select(g => g.Id));
    }

    [Fact]
    public async Task Audit_Filters_SelectTheMatchingRecords()
    {
        var a = await GrantAsync("editor", "Documents", "rw");
        var b = await GrantAsync("viewer", "Pictures/wallpaper.png");
        var c = await GrantAsync("viewer", "Downloads");
        await OkAsync("revoke", c.Id);

        var all = await Broker.JsonAsync(BrokerJson.Default.IReadOnlyListAuditRecordDto, "audit");
        Assert.Equal(
            [(a.Id, "grant"), (b.Id, "grant"), (c.Id, "grant"), (c.Id, "revoke")],
            all.Select(r => (r.GrantId, r.Action)));
        Assert.Equal(Enumerable.Range(1, 4).Select(i => (long)i), all.Select(r => r.Seq));
        for (var i = 1; i < all.Count; i++)
        {
            Assert.Equal(all[i - 1].Hash, all[i].PrevHash);
        }

        Assert.Equal([b.Id, c.Id, c.Id], (await Broker.JsonAsync(BrokerJson.Default.IReadOnlyListAuditRecordDto, "audit", "--vm", "viewer")).Select(r => r.GrantId));
        Assert.Equal([b.Id], (await Broker.JsonAsync(BrokerJson.Default.IReadOnlyListAuditRecordDto, "audit", "--path", "Pictures/**")).Select(r => r.GrantId));
        Assert.Equal([a.Id, b.Id, c.Id], (await Broker.JsonAsync(BrokerJson.Default.IReadOnlyListAuditRecordDto, "audit", "--action", "grant")).Select(r => r.GrantId));
        Assert.Equal([c.Id], (await Broker.JsonAsync(BrokerJson.Default.IReadOnlyListAuditRecordDto, "audit", "--vm", "viewer", "--action", "revoke")).Select(r => r.GrantId));
        Assert.Equal([4L], (await Broker.JsonAsync(BrokerJson.Default.IReadOnlyListAuditRecordDto, "audit", "--limit", "1")).Select(r => r.Seq));
        Assert.Equal(4, (await Broker.JsonAsync(BrokerJson.Default.IReadOnlyListAuditRecordDto, "audit", "--since", "1h", "--until", "2999-01-01T00:00:00Z")).Count);
        Assert.Equal("no audit records\n", (await OkAsync("audit", "--until", "2001-01-01T00:00:00Z")).Stdout);

        var human = (await OkAsync("audit", "--vm", "editor")).StdoutLines;
        Assert.Matches("^SEQ +TIME +ACTOR +VM +ACTION +PATH +RIGHTS +GRANT +RESULT$", human[0]);
        Assert.Contains(a.Id, Assert.Single(human.Skip(1)), StringComparison.Ordinal);
    }

    [Fact]
    public async Task AuditVerify_IntactChain_IsOkWithTheRecordCount()
    {
        var g = await GrantAsync("editor", "Documents");
        await OkAsync("revoke", g.Id);
        Assert.Equal("audit chain ok: 2 records\n", (await OkAsync("audit", "verify")).Stdout);
        var verify = await Broker.JsonAsync(BrokerJson.Default.AuditVerifyResult, "audit", "verify");
        Assert.Equal(new AuditVerifyResult { Ok = true, Records = 2 }, verify);
    }

    [Fact]
    public async Task VmList_And_Status_ReportTheRealBroker()
    {
        await GrantAsync("editor", "Documents");
        await GrantAsync("editor", "Pictures");
        var gone = await GrantAsync("viewer", "Downloads");
        await OkAsync("revoke", gone.Id);

        var vms = await Broker.JsonAsync(BrokerJson.Default.IReadOnlyListVmDto, "vm", "list");
        Assert.Equal(
            [new VmDto { Name = "editor", Declared = false, Grants = 2 }, new VmDto { Name = "viewer", Declared = false, Grants = 0 }],
            vms);
        var human = (await OkAsync("vm", "list")).StdoutLines;
        Assert.Equal(["NAME", "DECLARED", "POLICY", "STATE", "PID", "GRANTS"], Cells(human[0]));
        Assert.Equal(["editor", "no", "-", "stopped", "-", "2"], Cells(human[1]));

        var status = await Broker.JsonAsync(BrokerJson.Default.StatusDto, "status");
        Assert.Equal(
            (Dirs.Socket, Dirs.Tree, Dirs.State, Dirs.Run, Dirs.Policies, 2L),
            (status.Socket, status.Tree, status.StateDir, status.RuntimeDir, status.Policies, status.ActiveGrants));
        Assert.True(File.Exists(Dirs.Database), "the broker keeps its state in a real SQLite file");
        var text = (await OkAsync("status")).StdoutLines;
        Assert.Equal(["socket:", Dirs.Socket], Cells(text.Single(l => l.StartsWith("socket:", StringComparison.Ordinal))));
        Assert.Equal(["active", "grants:", "2"], Cells(text.Single(l => l.StartsWith("active grants:", StringComparison.Ordinal))));
    }

    [Fact]
    public async Task UnknownGrant_ExitsOneWithOneLine()
    {
        const string id = "g_0000000000000000";
        Assert.Contains(id, (await Cli("show", id)).AssertFailed(1), StringComparison.Ordinal);
        Assert.Contains(id, (await Cli("revoke", id)).AssertFailed(1), StringComparison.Ordinal);
        Assert.Contains(id, (await Cli("show", id, "--json")).AssertFailed(1), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("grant", "editor", "/etc/passwd")]
    [InlineData("grant", "editor", "../outside")]
    [InlineData("grant", "editor", "Documents/../../x")]
    [InlineData("list", "--path", "/home")]
    [InlineData("who-can", "..")]
    [InlineData("revoke", "--vm", "editor", "--path", "/Documents")]
    public async Task BadPath_ExitsTwoAndChangesNothing(params string[] args)
    {
        (await Cli(args)).AssertFailed(2);
        Assert.Empty(await Broker.JsonAsync(BrokerJson.Default.IReadOnlyListAuditRecordDto, "audit"));
    }

    [Fact]
    public async Task MissingPath_ExitsOneNamingIt()
    {
        var line = (await Cli("grant", "editor", "Nope/missing.txt")).AssertFailed(1);
        Assert.Contains("Nope/missing.txt", line, StringComparison.Ordinal);
        Assert.Equal("no grants\n", (await OkAsync("list")).Stdout);
    }

    [Fact]
    public async Task BrokerStopped_ExitsThreeNamingTheSocket()
    {
        await GrantAsync("editor", "Documents");
        Assert.Equal(0, await Broker.StopAsync());
        foreach (var args in new[] { ["list"], ["status", "--json"], new[] { "grant", "editor", "Pictures" } })
        {
            var line = (await Cli(args)).AssertFailed(3);
            Assert.Contains(Dirs.Socket, line, StringComparison.Ordinal);
        }
    }

    /// <summary>A table row's cells (no cell in these tests contains a space).</summary>
    private static string[] Cells(string row) => row.Split(' ', StringSplitOptions.RemoveEmptyEntries);
}
