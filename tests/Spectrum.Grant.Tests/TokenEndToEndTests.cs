using Spectrum.Broker.Contracts;
using Spectrum.Capabilities;

namespace Spectrum.Grant.Tests;

/// <summary>
/// Capability tokens end to end: minted by <c>grant --token</c>, decoded and judged by the real broker,
/// narrowed offline, and revoked one chain step at a time.
/// </summary>
public sealed class TokenEndToEndTests : LiveBrokerTest
{
    private async Task<(string GrantId, string Token)> GrantWithTokenAsync()
    {
        var created = await Broker.JsonAsync(BrokerJson.Default.GrantCreated, "grant", "editor", "Documents", "--rights", "rw", "--token");
        Assert.NotNull(created.Token);
        return (created.Grant.Id, created.Token);
    }

    private async Task<string> AttenuateAsync(string token)
    {
        var run = await OkAsync("token", "attenuate", token, "--rights", "ro", "--path", "Documents/Work");
        return Assert.Single(run.StdoutLines);
    }

    [Fact]
    public async Task GrantToken_PrintsAToken_ForThatGrant()
    {
        var run = await OkAsync("grant", "editor", "Documents", "--rights", "rw", "--token");
        Assert.Equal(3, run.StdoutLines.Count);
        Assert.Matches("^granted g_[0-9a-f]{16}: editor Documents rw ", run.StdoutLines[0]);
        Assert.StartsWith("token: spg1_", run.StdoutLines[1], StringComparison.Ordinal);
        Assert.StartsWith("note: the token is shown once", run.StdoutLines[2], StringComparison.Ordinal);

        var token = CapabilityToken.Decode(run.StdoutLines[1]["token: ".Length..]);
        var id = run.StdoutLines[0].Split(' ')[1].TrimEnd(':');
        Assert.Equal(id, token.GrantId.ToString());
        Assert.Equal([Caveat.Path(TreePath.Parse("Documents")), Caveat.OfRights(Rights.ReadWrite)], token.Caveats);

        // The token is never stored: not in the audit log, not in the database.
        Assert.DoesNotContain(run.StdoutLines[1][7..], (await OkAsync("audit", "--json")).Stdout, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Inspect_ShowsGrantCaveatsAndTheBrokersValidVerdict()
    {
        var (grantId, token) = await GrantWithTokenAsync();

        var info = await Broker.JsonAsync(BrokerJson.Default.TokenInfoDto, "token", "inspect", token);
        Assert.Equal(grantId, info.GrantId);
        Assert.False(info.Sealed);
        Assert.Equal(
            [new CaveatDto { Type = "path", Value = "Documents" }, new CaveatDto { Type = "rights", Value = "rw" }],
            info.Caveats);
        Assert.Equal(CapabilityToken.Decode(token).LastRevocationId.ToString(), info.RevocationId);
        Assert.NotNull(info.Broker);
        Assert.True(info.Broker.Valid, info.Broker.Reason);
        Assert.Equal((grantId, "rw"), (info.Broker.GrantId, info.Broker.EffectiveRights));
    }

    [Fact]
    public async Task Inspect_Human_ShowsGrantCaveatsAndVerdict()
    {
        var (grantId, token) = await GrantWithTokenAsync();
        var run = await CliRun.RunAsync(["token", "inspect", "-"], socket: Dirs.Socket, stdin: token + "\n");
        run.AssertOk();
        var lines = run.StdoutLines;
        Assert.Contains(lines, l => l.Split(' ', StringSplitOptions.RemoveEmptyEntries) is ["grant:", var g] && g == grantId);
        Assert.Contains(lines, l => l.Split(' ', StringSplitOptions.RemoveEmptyEntries) is ["caveats:", "path", "Documents"]);
        // The second caveat continues the caveats row (its key cell is rendered as "-" today).
        Assert.Contains(lines, l => l.Split(' ', StringSplitOptions.RemoveEmptyEntries) is [.., "rights", "rw"] and ([_, _] or ["-", _, _]));
        Assert.Contains(lines, l => l.StartsWith("broker:", StringComparison.Ordinal) && l.Contains($"valid: grant {grantId}, rights rw", StringComparison.Ordinal));
        Assert.DoesNotContain(token, string.Join('\n', lines), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Attenuate_NarrowsRightsAndPath_VerifyHonoursBoth()
    {
        var (grantId, token) = await GrantWithTokenAsync();
        var narrowed = await AttenuateAsync(token);
        Assert.NotEqual(token, narrowed);

        var info = await Broker.JsonAsync(BrokerJson.Default.TokenInfoDto, "token", "inspect", narrowed);
        Assert.Equal(grantId, info.GrantId);
        Assert.Equal(
            [("path", "Documents"), ("rights", "rw"), ("path", "Documents/Work"), ("rights", "ro")],
            info.Caveats.Select(c => (c.Type, c.Value)));
        Assert.True(info.Broker?.Valid, info.Broker?.Reason);
        Assert.Equal("ro", info.Broker?.EffectiveRights);

        var rw = await Cli("token", "verify", narrowed, "--rights", "rw");
        Assert.Contains("not valid", rw.AssertFailed(1), StringComparison.Ordinal);
        (await Cli("token", "verify", narrowed, "--rights", "ro")).AssertOk();
        (await Cli("token", "verify", narrowed, "--rights", "ro", "--path", "Documents/Work/notes.txt")).AssertOk();
        (await Cli("token", "verify", narrowed, "--rights", "ro", "--path", "Documents/report.odt")).AssertFailed(1);

        // The parent still allows what it always did.
        var parent = await Broker.JsonAsync(BrokerJson.Default.TokenVerifyResult, "token", "verify", token, "--rights", "rw");
        Assert.Equal((true, grantId, "rw"), (parent.Valid, parent.GrantId, parent.EffectiveRights));
    }

    [Fact]
    public async Task TokenRevoke_KillsTheAttenuatedTokenButNotItsParent()
    {
        var (grantId, token) = await GrantWithTokenAsync();
        var narrowed = await AttenuateAsync(token);
        var revocationId = CapabilityToken.Decode(narrowed).LastRevocationId.ToString();
        Assert.NotEqual(CapabilityToken.Decode(token).LastRevocationId.ToString(), revocationId);
        (await Cli("token", "verify", narrowed)).AssertOk();

        var run = await OkAsync("token", "revoke", revocationId);
        Assert.Equal($"revoked token {revocationId}", run.StdoutLines[0]);

        var dead = await Cli("token", "verify", narrowed);
        Assert.Contains("not valid", dead.AssertFailed(1), StringComparison.Ordinal);
        (await Cli("token", "verify", token)).AssertOk();
        Assert.Equal("active", (await Broker.JsonAsync(BrokerJson.Default.GrantDto, "show", grantId)).State);

        // A token derived from the revoked one dies with it.
        var grandchild = Assert.Single((await OkAsync("token", "attenuate", narrowed, "--expires", "1h")).StdoutLines);
        (await Cli("token", "verify", grandchild)).AssertFailed(1);
    }

    [Fact]
    public async Task RevokingTheGrant_InvalidatesItsTokens()
    {
        var (grantId, token) = await GrantWithTokenAsync();
        var narrowed = await AttenuateAsync(token);
        (await Cli("token", "verify", token)).AssertOk();

        await OkAsync("revoke", grantId);

        (await Cli("token", "verify", token)).AssertFailed(1);
        (await Cli("token", "verify", narrowed)).AssertFailed(1);
        var verdict = (await Broker.JsonAsync(BrokerJson.Default.TokenInfoDto, "token", "inspect", token)).Broker;
        Assert.NotNull(verdict);
        Assert.False(verdict.Valid);
        Assert.Equal(grantId, verdict.GrantId);
        Assert.False(string.IsNullOrEmpty(verdict.Reason));
    }
}
