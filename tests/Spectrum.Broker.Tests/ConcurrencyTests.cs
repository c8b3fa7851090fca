using Spectrum.Capabilities;

namespace Spectrum.Broker.Tests;

/// <summary>Parallel calls through the real CLI binary and parallel redemptions of a single-use token (SECURITY-TESTS.md D, E).</summary>
public sealed class ConcurrencyTests : IAsyncLifetime
{
    private readonly TestDirs _dirs = new();
    private BrokerProcess _broker = null!;

    private BrokerClient Client => _broker.Client;

    /// <summary>The <c>spectrum-grant</c> apphost, copied next to the tests by the project reference.</summary>
    private static string Cli => Path.Combine(AppContext.BaseDirectory, "spectrum-grant");

    public async Task InitializeAsync() => _broker = await BrokerProcess.StartAsync(_dirs);

    public async Task DisposeAsync()
    {
        await _broker.DisposeAsync();
        _dirs.Dispose();
    }

    private Task<(int ExitCode, string Stdout, string Stderr)> CliAsync(params string[] args) =>
        Tools.RunAsync(Cli, [.. args, "--json", "--socket", _dirs.Socket]);

    private async Task<string> CliGrantAsync(string vm, string path)
    {
        var (exit, stdout, stderr) = await CliAsync("grant", vm, path, "--rights", "rw");
        Assert.True(exit == 0, $"spectrum-grant grant exited {exit}: {stderr}");
        return System.Text.Json.JsonSerializer.Deserialize(stdout, BrokerJson.Default.GrantCreated)!.Grant.Id;
    }

    [Fact]
    public async Task FiftyParallelCliGrantsAndRevokes_LeaveAConsistentStoreAndOneAuditRecordPerSuccess()
    {
        string[] paths = ["Documents", "Pictures", "Downloads/README.txt", "Documents/Work"];
        var first = await Task.WhenAll(Enumerable.Range(0, 20).Select(i => CliGrantAsync($"vm{i % 5}", paths[i % 4])));
        Assert.Equal(20, first.Distinct().Count());

        // 50 at once: 20 new grants; 30 revokes, of which ids 0-9 are revoked twice (one must lose) and ids 10-19 once.
        var revokeTargets = Enumerable.Range(0, 10).SelectMany(i => new[] { first[i], first[i] }).Concat(first[10..20]).ToArray();
        var grantCalls = Enumerable.Range(0, 20).Select(i => CliAsync("grant", $"vm{i % 5}", paths[(i + 1) % 4], "--rights", "ro")).ToList();
        var revokeCalls = revokeTargets.Select(id => CliAsync("revoke", id)).ToList();
        var grantResults = await Task.WhenAll(grantCalls);
        var revokeResults = await Task.WhenAll(revokeCalls);

        Assert.All(grantResults, r => Assert.True(r.ExitCode == 0, r.Stderr));
        var second = grantResults.Select(r => System.Text.Json.JsonSerializer.Deserialize(r.Stdout, BrokerJson.Default.GrantCreated)!.Grant.Id).ToList();
        var revokedOk = revokeTargets.Zip(revokeResults).Where(p => p.Second.ExitCode == 0).Select(p => p.First).ToList();
        var revokedFailed = revokeResults.Where(r => r.ExitCode != 0).ToList();
        Assert.Equal(20, revokedOk.Count);
        Assert.Equal(first.Order(StringComparer.Ordinal), revokedOk.Order(StringComparer.Ordinal));
        Assert.Equal(10, revokedFailed.Count);
        Assert.All(revokedFailed, r =>
        {
            Assert.Equal(1, r.ExitCode);
            Assert.StartsWith("spectrum-grant: ", r.Stderr, StringComparison.Ordinal);
        });

        var all = (await Client.ListAsync(all: true)).ToDictionary(g => g.Id, StringComparer.Ordinal);
        Assert.Equal(40, all.Count);
        Assert.Equal(second.Order(StringComparer.Ordinal), (await Client.ListAsync()).Select(g => g.Id).Order(StringComparer.Ordinal));
        Assert.All(second, id => Assert.Equal("active", all[id].State));
        Assert.All(first, id => Assert.Equal("revoked", all[id].State));

        var audit = await Client.AuditAsync();
        Assert.Equal(60, audit.Count);
        Assert.Equal(first.Concat(second).Order(StringComparer.Ordinal), audit.Where(r => r.Action == "grant").Select(r => r.GrantId!).Order(StringComparer.Ordinal));
        Assert.Equal(first.Order(StringComparer.Ordinal), audit.Where(r => r.Action == "revoke").Select(r => r.GrantId!).Order(StringComparer.Ordinal));
        Assert.All(audit, r => Assert.Equal("ok", r.Result));
        var verify = await Client.VerifyAuditAsync();
        Assert.True(verify.Ok, verify.Reason);
        Assert.Equal(60, verify.Records);
    }

    [Fact]
    public async Task TwentyConcurrentRedemptionsOfAOnceToken_ExactlyOneSucceeds()
    {
        var created = await Client.GrantAsync("editor", "Documents", "rw,grant", token: true);
        var once = CapabilityToken.Decode(created.Token).Attenuate(Caveat.NewOnce()).Encode();
        using var start = new ManualResetEventSlim();

        var attempts = Enumerable.Range(0, 20).Select(_ => Task.Run(async () =>
        {
            start.Wait();
            try
            {
                return (Grant: await Client.RedeemAsync(once, "viewer"), Error: (BrokerClientException?)null);
            }
            catch (BrokerClientException e)
            {
                return (Grant: (GrantDto?)null, Error: e);
            }
        })).ToList();
        start.Set();
        var results = await Task.WhenAll(attempts);

        var winner = Assert.Single(results, r => r.Grant is not null).Grant!;
        Assert.Equal(("viewer", "delegation", created.Grant.Id, "active"), (winner.Vm, winner.Source, winner.Parent, winner.State));
        var losers = results.Where(r => r.Error is not null).Select(r => r.Error!).ToList();
        Assert.Equal(19, losers.Count);
        Assert.All(losers, e =>
        {
            Assert.Equal(BrokerFailure.Refused, e.Failure);
            Assert.Equal("conflict", e.Code);
        });
        Assert.Single(await Client.ListAsync("viewer"));

        var redeems = await Client.AuditAsync("&action=redeem");
        var ok = Assert.Single(redeems, r => r.Result == "ok");
        Assert.Equal(winner.Id, ok.GrantId);

        // Every redeem decision leaves exactly one record: the 19 replays are audited as refused.
        Assert.Equal(19, redeems.Count(r => r.Result == "refused" && r.Detail == "single-use token was already redeemed"));
        Assert.Equal(20, redeems.Count);
        var verify = await Client.VerifyAuditAsync();
        Assert.True(verify.Ok, verify.Reason);
    }
}
