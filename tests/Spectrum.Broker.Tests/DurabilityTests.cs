namespace Spectrum.Broker.Tests;

/// <summary>Kill -9 of the real daemon loses nothing that was acknowledged (SECURITY-TESTS.md E).</summary>
public sealed class DurabilityTests : IDisposable
{
    private readonly TestDirs _dirs = new();

    public void Dispose() => _dirs.Dispose();

    [Fact]
    public async Task KillNine_AfterCallsReturned_EveryGrantAndAuditRecordSurvivesRestart()
    {
        var expected = new Dictionary<string, string>(StringComparer.Ordinal);
        IReadOnlyList<AuditRecordDto> auditBefore;
        await using (var broker = await BrokerProcess.StartAsync(_dirs))
        {
            string[] paths = ["Documents", "Pictures", "Downloads/README.txt", "Documents/Work/notes.txt"];
            for (var i = 0; i < 12; i++)
            {
                var created = await broker.Client.GrantAsync($"vm{i % 3}", paths[i % paths.Length], i % 2 == 0 ? "ro" : "rw");
                expected[created.Grant.Id] = "active";
                if (i % 3 == 2)
                {
                    await broker.Client.RevokeAsync(created.Grant.Id);
                    expected[created.Grant.Id] = "revoked";
                }
            }

            auditBefore = await broker.Client.AuditAsync();
            await broker.KillHardAsync();
        }

        Assert.True(File.Exists(_dirs.Socket), "a SIGKILLed broker leaves its socket file behind");

        await using var restarted = await BrokerProcess.StartAsync(_dirs);
        var all = await restarted.Client.ListAsync(all: true);
        Assert.Equal(expected.OrderBy(e => e.Key, StringComparer.Ordinal), all.Select(g => KeyValuePair.Create(g.Id, g.State)).OrderBy(e => e.Key, StringComparer.Ordinal));
        var auditAfter = await restarted.Client.AuditAsync();
        Assert.Equal(auditBefore, auditAfter);
        Assert.Equal(16, auditAfter.Count);
        var verify = await restarted.Client.VerifyAuditAsync();
        Assert.True(verify.Ok, verify.Reason);
        Assert.Equal(16, verify.Records);
    }

    [Fact]
    public async Task KillNine_DuringAConcurrentBurst_EveryCallThatReturnedIsDurable()
    {
        var returnedGrants = new System.Collections.Concurrent.ConcurrentDictionary<string, bool>(StringComparer.Ordinal);
        var returnedRevokes = new System.Collections.Concurrent.ConcurrentDictionary<string, bool>(StringComparer.Ordinal);
        var seeds = new List<string>();
        await using (var broker = await BrokerProcess.StartAsync(_dirs))
        {
            for (var i = 0; i < 20; i++)
            {
                var seed = await broker.Client.GrantAsync("seed", "Documents");
                seeds.Add(seed.Grant.Id);
                returnedGrants[seed.Grant.Id] = true;
            }

            var completed = 0;
            var killNow = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            var calls = new List<Task>();
            for (var i = 0; i < 80; i++)
            {
                var n = i;
                calls.Add(Task.Run(async () =>
                {
                    try
                    {
                        if (n < 20)
                        {
                            await broker.Client.RevokeAsync(seeds[n]);
                            returnedRevokes[seeds[n]] = true;
                        }
                        else
                        {
                            var created = await broker.Client.GrantAsync($"burst{n % 4}", n % 2 == 0 ? "Pictures" : "Documents/report.odt", "rw");
                            returnedGrants[created.Grant.Id] = true;
                        }

                        if (Interlocked.Increment(ref completed) == 15)
                        {
                            killNow.TrySetResult();
                        }
                    }
                    catch (BrokerClientException)
                    {
                        // Cut off by the kill: its outcome is unknown to the caller, so either outcome is allowed.
                    }
                }));
            }

            await killNow.Task.WaitAsync(TimeSpan.FromSeconds(30));
            await broker.KillHardAsync();
            await Task.WhenAll(calls);
        }

        Assert.True(returnedGrants.Count + returnedRevokes.Count < 100, "the kill must land while calls are still in flight");

        await using var restarted = await BrokerProcess.StartAsync(_dirs);
        var all = (await restarted.Client.ListAsync(all: true)).ToDictionary(g => g.Id, StringComparer.Ordinal);
        foreach (var id in returnedGrants.Keys)
        {
            Assert.True(all.ContainsKey(id), $"grant {id} was acknowledged but is lost");
        }

        foreach (var id in returnedRevokes.Keys)
        {
            Assert.Equal("revoked", all[id].State);
        }

        foreach (var id in returnedGrants.Keys.Except(returnedRevokes.Keys))
        {
            // A revoke cut off by the kill may or may not have committed; nothing else ends a grant.
            Assert.True(all[id].State == "active" || (seeds.Contains(id) && all[id].State == "revoked"), $"grant {id} is {all[id].State}");
        }

        // Whatever committed, committed whole: each stored grant and each revocation has its one audit record.
        var audit = await restarted.Client.AuditAsync();
        Assert.Equal(all.Keys.Order(StringComparer.Ordinal), audit.Where(r => r.Action == "grant").Select(r => r.GrantId!).Order(StringComparer.Ordinal));
        Assert.Equal(all.Values.Where(g => g.State == "revoked").Select(g => g.Id).Order(StringComparer.Ordinal), audit.Where(r => r.Action == "revoke").Select(r => r.GrantId!).Order(StringComparer.Ordinal));
        Assert.True(audit.Count >= returnedGrants.Count + returnedRevokes.Count);
        var verify = await restarted.Client.VerifyAuditAsync();
        Assert.True(verify.Ok, verify.Reason);
        Assert.Equal(audit.Count, verify.Records);
    }

    [Fact]
    public async Task Sigterm_ExitsZeroRemovesTheSocketAndTheNextStartSeesTheState()
    {
        string id;
        await using (var broker = await BrokerProcess.StartAsync(_dirs))
        {
            id = (await broker.Client.GrantAsync("editor", "Documents")).Grant.Id;
            Assert.True(File.Exists(_dirs.Socket));

            Assert.Equal(0, await broker.StopAsync());
        }

        Assert.False(File.Exists(_dirs.Socket), "a clean shutdown removes the socket");
        await using var restarted = await BrokerProcess.StartAsync(_dirs);
        Assert.Equal("active", (await restarted.Client.ShowAsync(id)).State);
        Assert.True((await restarted.Client.VerifyAuditAsync()).Ok);
    }
}
