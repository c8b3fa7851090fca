namespace Spectrum.Broker.Tests;

/// <summary>SO_PEERCRED for real: other uids connect through setpriv and curl (SECURITY-TESTS.md F).</summary>
public sealed class PeerCredentialTests : IDisposable
{
    private readonly TestDirs _dirs = new();

    public void Dispose() => _dirs.Dispose();

    private async Task<(string Status, string Body)> CurlAsUidAsync(int uid, string route)
    {
        var (exit, stdout, stderr) = await Tools.RunAsync(
            "setpriv", $"--reuid={uid}", $"--regid={uid}", "--clear-groups",
            "curl", "-s", "-w", "%{http_code}", "--unix-socket", _dirs.Socket, "http://broker" + route);
        Assert.True(exit == 0, $"setpriv/curl failed ({exit}): {stderr}");
        return (stdout[^3..], stdout[..^3]);
    }

    [Fact]
    public async Task OtherUid_IsRefused403_AndLeavesExactlyOneDenyRecordNamingIt()
    {
        await using var broker = await BrokerProcess.StartAsync(_dirs);
        await broker.Client.GrantAsync("editor", "Documents");

        var (status, body) = await CurlAsUidAsync(65534, "/v1/grants");

        Assert.Equal("403", status);
        Assert.Contains("\"forbidden\"", body, StringComparison.Ordinal);
        Assert.Contains("uid 65534 may not administer the broker", body, StringComparison.Ordinal);
        Assert.DoesNotContain("Documents", body, StringComparison.Ordinal);
        var audit = await broker.Client.AuditAsync();
        var deny = Assert.Single(audit, r => r.Action == "deny");
        Assert.Equal("uid:65534", deny.Actor);
        Assert.Equal("refused", deny.Result);
        Assert.Contains("uid 65534", deny.Detail, StringComparison.Ordinal);
        Assert.Contains("GET /v1/grants", deny.Detail, StringComparison.Ordinal);
        Assert.Equal(["grant", "deny"], audit.Select(r => r.Action));
        Assert.True((await broker.Client.VerifyAuditAsync()).Ok);
    }

    [Fact]
    public async Task TreeOwner_IsAdmin_AndGets200()
    {
        Assert.Equal(0, (await Tools.RunAsync("chown", "4242:4242", _dirs.Tree)).ExitCode);
        await using var broker = await BrokerProcess.StartAsync(_dirs);
        await broker.Client.GrantAsync("editor", "Documents");

        var (status, body) = await CurlAsUidAsync(4242, "/v1/grants");

        Assert.Equal("200", status);
        Assert.Matches("\"path\":\\s*\"Documents\"", body);
        Assert.DoesNotContain(await broker.Client.AuditAsync(), r => r.Action == "deny");
    }
}
