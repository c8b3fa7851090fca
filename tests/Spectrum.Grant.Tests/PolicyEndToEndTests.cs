using Spectrum.Broker.Contracts;

namespace Spectrum.Grant.Tests;

/// <summary>
/// <c>policy check</c>, <c>diff</c> and <c>apply</c> against the real daemon, with the files in the
/// test's own policies directory: diff shows exactly what apply then does, and apply is idempotent.
/// </summary>
public sealed class PolicyEndToEndTests : LiveBrokerTest
{
    private const string Editor = """
        # The editor VM.
        [[grant]]
        path = "Documents"
        rights = "rw"

        [[grant]]
        path = "Pictures/wallpaper.png"
        rights = "ro"
        """;

    private const string Viewer = """
        [[grant]]
        path = "Downloads"
        rights = "ro"
        """;

    /// <summary>Tests that need policy grants in place get them from the broker's start-up reconciliation.</summary>
    private bool _policiesAtStart;

    protected override void BeforeStart()
    {
        if (_policiesAtStart)
        {
            Dirs.Policy("editor", Editor);
            Dirs.Policy("viewer", Viewer);
        }
    }

    private async Task StartWithPoliciesAsync()
    {
        // xunit has already started a broker with an empty policies directory: restart it on the same state.
        await Broker.DisposeAsync();
        _policiesAtStart = true;
        await InitializeAsync();
        var live = await ListAsync();
        Assert.Equal(
            [("editor", "Documents", "rw"), ("editor", "Pictures/wallpaper.png", "ro"), ("viewer", "Downloads", "ro")],
            live.Select(g => (g.Vm, g.Path, g.Rights)));
        Assert.All(live, g => Assert.Equal("policy", g.Source));
    }

    private Task<IReadOnlyList<GrantDto>> ListAsync(params string[] extra) =>
        Broker.JsonAsync(BrokerJson.Default.IReadOnlyListGrantDto, ["list", .. extra]);

    [Fact]
    public async Task Check_OwnPolicies_Ok()
    {
        Dirs.Policy("editor", Editor);
        Dirs.Policy("viewer", Viewer);
        var run = await OkAsync("policy", "check");
        Assert.Equal($"policy ok: {Dirs.Policies}: 2 VMs, 3 grants\n", run.Stdout);
        var json = await Broker.JsonAsync(BrokerJson.Default.PolicyCheckResult, "policy", "check");
        Assert.Equal((true, Dirs.Policies, 2, 3, 0), (json.Ok, json.Dir, json.Vms, json.Grants, json.Errors.Count));
    }

    [Fact]
    public async Task CheckDir_UnknownKey_ExitsOneWithFileLineColumn()
    {
        var dir = Path.Combine(Dirs.Root, "candidate");
        Directory.CreateDirectory(Path.Combine(dir, "vms"));
        File.WriteAllText(Path.Combine(dir, "vms", "good.toml"), Viewer);
        var bad = Path.Combine(dir, "vms", "bad.toml");
        File.WriteAllText(bad, """
            [[grant]]
            path = "Documents"
            rights = "rw"

            [[grant]]
            path = "Pictures"
               colour = "blue"
            """);

        var run = await Cli("policy", "check", dir);
        var line = run.StderrLines.Count == 1 ? run.StderrLines[0] : string.Join(" | ", run.StderrLines);
        Assert.True(run.ExitCode == 1, $"exit {run.ExitCode}: {run.Stderr}");
        Assert.StartsWith("spectrum-grant: 1 problem in the policies at " + dir, line, StringComparison.Ordinal);
        Assert.Equal([$"{bad}:7:4: unknown key 'colour' in [[grant]]; known keys: expires, kind, path, rights"], run.StdoutLines);

        // The broker's own (empty, valid) policies are untouched by checking another directory.
        Assert.Equal("no changes\n", (await OkAsync("policy", "diff")).Stdout);
        Assert.Equal("no grants\n", (await OkAsync("list")).Stdout);
    }

    [Fact]
    public async Task Diff_NewFiles_ShowsExactlyTheAddsAndChangesNothing()
    {
        Assert.Equal("no changes\n", (await OkAsync("policy", "diff")).Stdout);
        Dirs.Policy("editor", Editor);
        Dirs.Policy("viewer", Viewer);

        var run = await OkAsync("policy", "diff");
        Assert.Equal(["+ editor Documents rw", "+ editor Pictures/wallpaper.png ro", "+ viewer Downloads ro"], run.StdoutLines);
        var json = await Broker.JsonAsync(BrokerJson.Default.PolicyDiffResult, "policy", "diff");
        Assert.False(json.Applied);
        Assert.Equal(
            [("add", "vms/editor.toml"), ("add", "vms/editor.toml"), ("add", "vms/viewer.toml")],
            json.Changes.Select(c => (c.Op, c.File)));
        Assert.All(json.Changes, c => Assert.Null(c.GrantId));

        Assert.Empty(await ListAsync("--all"));
        Assert.Empty(await Broker.JsonAsync(BrokerJson.Default.IReadOnlyListAuditRecordDto, "audit"));
    }

    [Fact]
    public async Task Apply_NewFiles_AddsExactlyTheDiff()
    {
        Dirs.Policy("editor", Editor);
        Dirs.Policy("viewer", Viewer);
        var diff = (await OkAsync("policy", "diff")).StdoutLines;

        var run = await OkAsync("policy", "apply");
        Assert.Equal([.. diff, "applied 3 changes"], run.StdoutLines);

        var live = await ListAsync();
        Assert.Equal(
            [("editor", "Documents", "rw", "vms/editor.toml"), ("editor", "Pictures/wallpaper.png", "ro", "vms/editor.toml"), ("viewer", "Downloads", "ro", "vms/viewer.toml")],
            live.Select(g => (g.Vm, g.Path, g.Rights, g.SourceDetail)));
        Assert.All(live, g => Assert.Equal(("policy", "active"), (g.Source, g.State)));
        Assert.Single(await Broker.JsonAsync(BrokerJson.Default.IReadOnlyListAuditRecordDto, "audit", "--action", "policy-apply"));
    }

    [Fact]
    public async Task Apply_AfterEdits_DoesExactlyTheAddUpdateAndRemoveThatDiffShows()
    {
        await StartWithPoliciesAsync();
        var before = await ListAsync();
        var documents = before.Single(g => g.Path == "Documents");
        var wallpaper = before.Single(g => g.Path == "Pictures/wallpaper.png");

        // Documents rw -> ro, wallpaper removed, Downloads/README.txt added.
        Dirs.Policy("editor", """
            [[grant]]
            path = "Documents"
            rights = "ro"

            [[grant]]
            path = "Downloads/README.txt"
            rights = "rw"
            """);
        var expected = new[] { "~ editor Documents rw -> ro", "+ editor Downloads/README.txt rw", "- editor Pictures/wallpaper.png ro" };
        Assert.Equal(expected, (await OkAsync("policy", "diff")).StdoutLines);
        var diff = await Broker.JsonAsync(BrokerJson.Default.PolicyDiffResult, "policy", "diff");
        Assert.Equal([documents.Id, null, wallpaper.Id], diff.Changes.Select(c => c.GrantId));
        Assert.Equal("rw", diff.Changes[0].OldRights);
        Assert.Equal(before, await ListAsync());

        var run = await OkAsync("policy", "apply");
        Assert.Equal([.. expected, "applied 3 changes"], run.StdoutLines);

        var after = await ListAsync();
        Assert.Equal(
            [("editor", "Documents", "ro"), ("editor", "Downloads/README.txt", "rw"), ("viewer", "Downloads", "ro")],
            after.Select(g => (g.Vm, g.Path, g.Rights)));
        Assert.Equal(documents.Id, after[0].Id);
        Assert.Equal(before.Single(g => g.Vm == "viewer"), after[2]);
        Assert.Equal("revoked", (await Broker.JsonAsync(BrokerJson.Default.GrantDto, "show", wallpaper.Id)).State);
        Assert.Equal([wallpaper.Id], (await Broker.JsonAsync(BrokerJson.Default.IReadOnlyListAuditRecordDto, "audit", "--action", "revoke")).Select(r => r.GrantId));
    }

    [Fact]
    public async Task Apply_Twice_TheSecondChangesNothing()
    {
        await StartWithPoliciesAsync();
        Dirs.Policy("viewer", """
            [[grant]]
            path = "Downloads"
            rights = "rw"
            """);
        (await OkAsync("policy", "apply")).AssertOk();
        var first = (await OkAsync("list", "--all", "--json")).Stdout;
        Assert.Contains("\"rights\": \"rw\"", first, StringComparison.Ordinal);

        Assert.Equal("no changes\n", (await OkAsync("policy", "diff")).Stdout);
        var again = await Broker.JsonAsync(BrokerJson.Default.PolicyDiffResult, "policy", "apply");
        Assert.True(again.Applied);
        Assert.Empty(again.Changes);
        Assert.Equal("no changes\n", (await OkAsync("policy", "apply")).Stdout);
        Assert.Equal("no changes\n", (await OkAsync("policy", "diff")).Stdout);
        Assert.Equal(first, (await OkAsync("list", "--all", "--json")).Stdout);
    }

    [Fact]
    public async Task Apply_BrokenFile_FailsWithFileLineColumnAndChangesNothing()
    {
        await StartWithPoliciesAsync();
        var before = (await OkAsync("list", "--all", "--json")).Stdout;
        var auditBefore = (await OkAsync("audit", "--json")).Stdout;

        // A new grant (which would be added) and a typo further down: nothing at all may change.
        Dirs.Policy("editor", """
            [[grant]]
            path = "Documents"
            rights = "rw"

            [[grant]]
            path = "Downloads/README.txt"
            rights = "rw"

            [[grant]]
            path = "Pictures/wallpaper.png"
            rihgts = "ro"
            """);

        foreach (var command in new[] { "apply", "diff" })
        {
            var run = await Cli("policy", command);
            Assert.True(run.ExitCode != 0, $"policy {command} succeeded on a broken file: {run.Stdout}");
            Assert.Equal("", run.Stdout);
            var line = Assert.Single(run.StderrLines);
            Assert.Contains($"{Dirs.PolicyFile("editor")}:11:1: unknown key 'rihgts'", line, StringComparison.Ordinal);
        }

        var check = await Cli("policy", "check");
        Assert.Equal(1, check.ExitCode);
        Assert.Equal([$"{Dirs.PolicyFile("editor")}:11:1: unknown key 'rihgts' in [[grant]]; known keys: expires, kind, path, rights"], check.StdoutLines);

        Assert.Equal(before, (await OkAsync("list", "--all", "--json")).Stdout);
        Assert.Equal(auditBefore, (await OkAsync("audit", "--json")).Stdout);
    }

    [Fact]
    public async Task Apply_VmFileDeleted_RevokesThatVmsPolicyGrants()
    {
        await StartWithPoliciesAsync();
        var viewer = (await ListAsync("--vm", "viewer")).Single();
        var byHand = (await Broker.JsonAsync(BrokerJson.Default.GrantCreated, "grant", "viewer", "Pictures")).Grant;
        File.Delete(Dirs.PolicyFile("viewer"));

        Assert.Equal(["- viewer Downloads ro"], (await OkAsync("policy", "diff")).StdoutLines);
        Assert.Equal(["- viewer Downloads ro", "applied 1 change"], (await OkAsync("policy", "apply")).StdoutLines);

        // Only the policy grant goes; a grant made by hand stays.
        Assert.Equal([byHand.Id], (await ListAsync("--vm", "viewer")).Select(g => g.Id));
        Assert.Equal("revoked", (await Broker.JsonAsync(BrokerJson.Default.GrantDto, "show", viewer.Id)).State);
        Assert.Equal(2, (await ListAsync("--vm", "editor")).Count);
        var vm = (await Broker.JsonAsync(BrokerJson.Default.IReadOnlyListVmDto, "vm", "list")).Single(v => v.Name == "viewer");
        Assert.False(vm.Declared);
        Assert.Equal("no changes\n", (await OkAsync("policy", "diff")).Stdout);
    }
}
