namespace Spectrum.Broker.Tests;

/// <summary>An audit log of eight records (six grants, two revokes), made once by a broker that then stopped cleanly.</summary>
public sealed class AuditedState : IAsyncLifetime
{
    public TestDirs Dirs { get; } = new();

    public IReadOnlyList<AuditRecordDto> Records { get; private set; } = [];

    public async Task InitializeAsync()
    {
        await using var broker = await BrokerProcess.StartAsync(Dirs);
        var ids = new List<string>();
        foreach (var (vm, path) in new[] { ("editor", "Documents"), ("viewer", "Pictures"), ("editor", "Downloads"), ("mail", "Documents/report.odt"), ("viewer", "Documents/Work"), ("mail", "Pictures/wallpaper.png") })
        {
            ids.Add((await broker.Client.GrantAsync(vm, path)).Grant.Id);
        }

        await broker.Client.RevokeAsync(ids[1]);
        await broker.Client.RevokeAsync(ids[4]);
        Records = await broker.Client.AuditAsync();
        Assert.Equal(8, Records.Count);
        Assert.True((await broker.Client.VerifyAuditAsync()).Ok);
        Assert.Equal(0, await broker.StopAsync());
    }

    public Task DisposeAsync()
    {
        Dirs.Dispose();
        return Task.CompletedTask;
    }
}

/// <summary>An attacker with write access to broker.db edits the audit table; `audit verify` names the first bad record (SECURITY-TESTS.md F).</summary>
public sealed class AuditTamperTests(AuditedState audited) : IClassFixture<AuditedState>, IDisposable
{
    private const string DropTriggers = "DROP TRIGGER audit_no_update; DROP TRIGGER audit_no_delete; ";

    private readonly TestDirs _dirs = new();

    public void Dispose() => _dirs.Dispose();

    private async Task<AuditVerifyResult> TamperThenVerifyAsync(string sql)
    {
        Tools.CopyState(audited.Dirs, _dirs);
        await Tools.SqliteAsync(_dirs.Database, DropTriggers + sql);
        await using var broker = await BrokerProcess.StartAsync(_dirs);
        return await broker.Client.VerifyAuditAsync();
    }

    [Fact]
    public async Task EditedDetail_IsNamedByItsSeq()
    {
        var verify = await TamperThenVerifyAsync("UPDATE audit SET detail = 'source=cli; nothing to see' WHERE seq = 3;");

        Assert.False(verify.Ok);
        Assert.Equal(3, verify.FirstBadSeq);
        Assert.Contains("record 3 was edited", verify.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public async Task EditedRecordWithItsHashRecomputedByTheAttacker_IsNamedByTheNextSeq()
    {
        // The attacker knows the (public) hash layout and fixes up record 5; record 6 still chains to the old hash.
        var r = audited.Records[4];
        var forged = new Spectrum.Broker.State.AuditRecord
        {
            Seq = r.Seq,
            TimeMs = r.Time.ToUnixTimeMilliseconds(),
            Actor = r.Actor,
            Vm = "intruder",
            Action = r.Action,
            Path = r.Path,
            Rights = r.Rights,
            GrantId = r.GrantId,
            Result = r.Result,
            Detail = r.Detail,
        }.ComputeHash(Convert.FromHexString(r.PrevHash));

        var verify = await TamperThenVerifyAsync($"UPDATE audit SET vm = 'intruder', hash = X'{Convert.ToHexString(forged)}' WHERE seq = 5;");

        Assert.False(verify.Ok);
        Assert.Equal(6, verify.FirstBadSeq);
        Assert.Contains("record 6 does not follow record 5", verify.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public async Task DeletedMiddleRecord_IsNamedByItsSeq()
    {
        var verify = await TamperThenVerifyAsync("DELETE FROM audit WHERE seq = 4;");

        Assert.False(verify.Ok);
        Assert.Equal(4, verify.FirstBadSeq);
        Assert.Contains("record 4 is missing", verify.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public async Task SwappedRecords_AreNamedByTheFirstOne()
    {
        var verify = await TamperThenVerifyAsync("UPDATE audit SET seq = -1 WHERE seq = 3; UPDATE audit SET seq = 3 WHERE seq = 5; UPDATE audit SET seq = 5 WHERE seq = -1;");

        Assert.False(verify.Ok);
        Assert.Equal(3, verify.FirstBadSeq);
        Assert.Contains("record 3 does not follow record 2", verify.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public async Task DeletedLastRecord_IsCaughtByTheRecordedHead()
    {
        var verify = await TamperThenVerifyAsync("DELETE FROM audit WHERE seq = 8;");

        Assert.False(verify.Ok);
        Assert.Equal(8, verify.FirstBadSeq);
        Assert.Equal(7, verify.Records);
        Assert.Contains("records were deleted from the end", verify.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public async Task DeletedLastRecord_StaysDetectedAfterTheBrokerWritesAgain()
    {
        // The restarted broker must not chain new records onto the truncated tail and so hide the deletion.
        Tools.CopyState(audited.Dirs, _dirs);
        await Tools.SqliteAsync(_dirs.Database, DropTriggers + "DELETE FROM audit WHERE seq = 8;");
        await using var broker = await BrokerProcess.StartAsync(_dirs);

        await broker.Client.GrantAsync("editor", "Pictures");

        var verify = await broker.Client.VerifyAuditAsync();
        Assert.False(verify.Ok);
        Assert.Equal(8, verify.FirstBadSeq);
    }

    [Fact]
    public async Task UpdateAndDelete_WithTheTriggersInPlace_Fail()
    {
        Tools.CopyState(audited.Dirs, _dirs);

        foreach (var sql in new[] { "UPDATE audit SET detail = 'x' WHERE seq = 2;", "DELETE FROM audit WHERE seq = 8;", "DELETE FROM audit;" })
        {
            var (exit, _, stderr) = await Tools.RunAsync("sqlite3", "-bail", _dirs.Database, sql);
            Assert.NotEqual(0, exit);
            Assert.Contains("the audit log is append-only", stderr, StringComparison.Ordinal);
        }

        await using var broker = await BrokerProcess.StartAsync(_dirs);
        var records = await broker.Client.AuditAsync();
        var verify = await broker.Client.VerifyAuditAsync();

        // The copied tree has new inodes, so the views may find the file grant's directory replaced
        // and append a `stale` record; nothing else may be added, and nothing before it changed.
        Assert.Equal(audited.Records, records.Take(8));
        Assert.All(records.Skip(8), r => Assert.Equal("stale", r.Action));
        Assert.True(verify.Ok, verify.Reason);
        Assert.True(verify.Records >= records.Count, $"{verify.Records} verified, {records.Count} listed");
    }
}
