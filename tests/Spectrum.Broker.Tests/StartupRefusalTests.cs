namespace Spectrum.Broker.Tests;

/// <summary>A state folder made once (a grant, a revoke, clean stop), copied by each test that damages it.</summary>
public sealed class PristineState : IAsyncLifetime
{
    public TestDirs Dirs { get; } = new();

    public async Task InitializeAsync()
    {
        await using var broker = await BrokerProcess.StartAsync(Dirs);
        var a = await broker.Client.GrantAsync("editor", "Documents", "rw");
        await broker.Client.GrantAsync("viewer", "Pictures", "ro");
        await broker.Client.RevokeAsync(a.Grant.Id);
        Assert.Equal(0, await broker.StopAsync());
    }

    public Task DisposeAsync()
    {
        Dirs.Dispose();
        return Task.CompletedTask;
    }
}

/// <summary>The daemon refuses doubtful state, naming the file and the fix, and changes nothing (DESIGN.md "Runtime layout").</summary>
public sealed class StartupRefusalTests(PristineState pristine) : IClassFixture<PristineState>, IDisposable
{
    private readonly TestDirs _dirs = new();

    private string RootKey => Path.Combine(_dirs.State, "root.key");

    public void Dispose() => _dirs.Dispose();

    private async Task<string> RefusesAsync(params string[] extra)
    {
        var (exit, output) = await BrokerProcess.RunExpectingFailureAsync(_dirs, extra);
        Assert.True(exit == 1, $"exit {exit}: {output}");
        Assert.False(File.Exists(_dirs.Socket), "a refused start leaves no socket");
        return output;
    }

    /// <summary>
    /// Every file is byte for byte what it was. Opening a WAL database may add its (empty) -wal and
    /// -shm side files, as any SQLite reader does; nothing may be written into the log.
    /// </summary>
    private void AssertUnchanged(IReadOnlyDictionary<string, string> before)
    {
        var after = Tools.Fingerprint(_dirs.State);
        foreach (var (name, hash) in before)
        {
            Assert.True(after.TryGetValue(name, out var now) && now == hash, $"{name} was changed or removed by a refused start");
        }

        foreach (var name in after.Keys.Except(before.Keys))
        {
            Assert.True(name is "broker.db-wal" or "broker.db-shm", $"a refused start created {name}");
        }

        var wal = _dirs.Database + "-wal";
        Assert.True(before.ContainsKey("broker.db-wal") || !File.Exists(wal) || new FileInfo(wal).Length == 0, "a refused start wrote to the WAL");
    }

    [Fact]
    public async Task DatabaseDeleted_WhileRootKeyRemains_RefusesNamingTheFileAndTheFix_AndCreatesNoDatabase()
    {
        Tools.CopyState(pristine.Dirs, _dirs);
        foreach (var f in Directory.GetFiles(_dirs.State, "broker.db*"))
        {
            File.Delete(f);
        }

        var output = await RefusesAsync();

        Assert.Contains(_dirs.Database, output, StringComparison.Ordinal);
        Assert.Contains("is missing", output, StringComparison.Ordinal);
        Assert.Contains("restore broker.db from a backup", output, StringComparison.Ordinal);
        Assert.Empty(Directory.GetFiles(_dirs.State, "broker.db*"));
    }

    [Fact]
    public async Task DatabaseWithGarbageHeader_Refuses_AndTheFileIsUnchanged()
    {
        Tools.CopyState(pristine.Dirs, _dirs);
        using (var stream = new FileStream(_dirs.Database, FileMode.Open, FileAccess.Write))
        {
            stream.Write("this is not an sqlite file at all"u8);
        }

        var before = Tools.Fingerprint(_dirs.State);

        var output = await RefusesAsync();

        Assert.Contains(_dirs.Database, output, StringComparison.Ordinal);
        Assert.Contains("restore it from a backup", output, StringComparison.Ordinal);
        AssertUnchanged(before);
    }

    [Fact]
    public async Task TruncatedDatabase_Refuses_AndTheFileIsUnchanged()
    {
        Tools.CopyState(pristine.Dirs, _dirs);
        Assert.False(File.Exists(_dirs.Database + "-wal") && new FileInfo(_dirs.Database + "-wal").Length > 0, "a clean stop checkpoints the WAL");
        var length = new FileInfo(_dirs.Database).Length;
        Assert.True(length >= 3 * 4096, $"the database is {length} bytes");
        using (var stream = new FileStream(_dirs.Database, FileMode.Open, FileAccess.Write))
        {
            stream.SetLength(length / 2);
        }

        var before = Tools.Fingerprint(_dirs.State);

        var output = await RefusesAsync();

        Assert.Contains(_dirs.Database, output, StringComparison.Ordinal);
        Assert.Contains("backup", output, StringComparison.Ordinal);
        AssertUnchanged(before);
    }

    [Fact]
    public async Task DatabaseFromANewerBroker_RefusesNamingBothVersions()
    {
        Tools.CopyState(pristine.Dirs, _dirs);
        await Tools.SqliteAsync(_dirs.Database, "PRAGMA user_version = 99;");
        var before = Tools.Fingerprint(_dirs.State);

        var output = await RefusesAsync();

        Assert.Contains($"the database {_dirs.Database} has schema version 99, newer than this broker's 1", output, StringComparison.Ordinal);
        AssertUnchanged(before);
    }

    [Fact]
    public async Task RootKeyDeleted_WhileDatabaseRemains_RefusesAndCreatesNoKey()
    {
        Tools.CopyState(pristine.Dirs, _dirs);
        File.Delete(RootKey);

        var output = await RefusesAsync();

        Assert.Contains($"the root key {RootKey} is missing", output, StringComparison.Ordinal);
        Assert.Contains("restore root.key from a backup", output, StringComparison.Ordinal);
        Assert.False(File.Exists(RootKey));
    }

    [Fact]
    public async Task StateFolderOpenToOthers_RefusesWithTheChmod700Fix_AndChangesNothing()
    {
        Tools.CopyState(pristine.Dirs, _dirs);
        File.SetUnixFileMode(_dirs.State, (UnixFileMode)0b111_101_101);
        var before = Tools.Fingerprint(_dirs.State);

        var output = await RefusesAsync();

        Assert.Contains($"the state folder {_dirs.State} is open to other users (mode 755)", output, StringComparison.Ordinal);
        Assert.Contains($"chmod 700 {_dirs.State}", output, StringComparison.Ordinal);
        Assert.Single(output.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.Equal(before, Tools.Fingerprint(_dirs.State));
        Assert.Equal((UnixFileMode)0b111_101_101, File.GetUnixFileMode(_dirs.State));
    }

    [Fact]
    public async Task RootKeyReadableByOthers_RefusesWithTheChmodFix()
    {
        Tools.CopyState(pristine.Dirs, _dirs);
        File.SetUnixFileMode(RootKey, (UnixFileMode)0b110_100_100);

        var output = await RefusesAsync();

        Assert.Contains($"the root key {RootKey} is readable by others (mode 644)", output, StringComparison.Ordinal);
        Assert.Contains($"chmod 600 {RootKey}", output, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("spectrum-root-key v2\nepoch 1 0000000000000000000000000000000000000000000000000000000000000000\n")]
    [InlineData("spectrum-root-key v1\nepoch 1 zz\n")]
    [InlineData("spectrum-root-key v1\n")]
    [InlineData("")]
    public async Task RootKeyMalformed_Refuses(string content)
    {
        Tools.CopyState(pristine.Dirs, _dirs);
        File.WriteAllText(RootKey, content);
        var before = Tools.Fingerprint(_dirs.State);

        var output = await RefusesAsync();

        Assert.Contains($"the root key {RootKey} is malformed", output, StringComparison.Ordinal);
        AssertUnchanged(before);
    }

    [Fact]
    public async Task SecondBroker_OnTheSameStateFolder_Refuses()
    {
        await using var first = await BrokerProcess.StartAsync(_dirs);

        // Same socket: the live one is detected, not deleted.
        var (sameExit, sameSocket) = await BrokerProcess.RunExpectingFailureAsync(_dirs);
        Assert.Equal(1, sameExit);
        Assert.Contains($"another broker is already listening on {_dirs.Socket}", sameSocket, StringComparison.Ordinal);

        // Another socket, same state: the state lock refuses.
        var (exit, output) = await BrokerProcess.RunExpectingFailureAsync(_dirs, "--socket", Path.Combine(_dirs.Root, "second.sock"));
        Assert.Equal(1, exit);
        Assert.Contains($"another broker is using the state folder {_dirs.State}", output, StringComparison.Ordinal);
        Assert.False(File.Exists(Path.Combine(_dirs.Root, "second.sock")));

        Assert.True(File.Exists(_dirs.Socket));
        Assert.Empty(await first.Client.ListAsync(all: true));
    }

    [Fact]
    public async Task BadCommandLine_ExitsTwo()
    {
        var (exit, output) = await BrokerProcess.RunExpectingFailureAsync(_dirs, "--no-such-option");

        Assert.Equal(2, exit);
        Assert.Contains("spectrum-broker:", output, StringComparison.Ordinal);
        Assert.False(Directory.Exists(_dirs.State));
    }

    [Fact]
    public async Task PolicyWithAnUnknownKey_RefusesWithFileLineColumn_AndTheStoreIsUnchanged()
    {
        _dirs.Policy("editor", "[[grant]]\npath = \"Documents\"\nrights = \"ro\"\n");
        await using (var broker = await BrokerProcess.StartAsync(_dirs))
        {
            await broker.Client.GrantAsync("viewer", "Pictures");
            Assert.Equal(2, (await broker.Client.ListAsync()).Count);
            Assert.Equal(0, await broker.StopAsync());
        }

        const string Query = "SELECT id, vm, path, rights, source, state, ended_at FROM grants ORDER BY id;";
        var grantsBefore = await Tools.SqliteAsync(_dirs.Database, Query);
        _dirs.Policy("editor", "[[grant]]\npath = \"Documents\"\nrights = \"rw\"\n  colour = \"blue\"\n");
        var before = Tools.Fingerprint(_dirs.State);

        var output = await RefusesAsync();

        Assert.Contains(Path.Combine(_dirs.Policies, "vms", "editor.toml") + ":4:3:", output, StringComparison.Ordinal);
        Assert.Contains("colour", output, StringComparison.Ordinal);
        Assert.Contains("nothing was changed", output, StringComparison.Ordinal);
        AssertUnchanged(before);
        Assert.Equal(grantsBefore, await Tools.SqliteAsync(_dirs.Database, Query));
        Assert.Contains("|editor|Documents|", grantsBefore, StringComparison.Ordinal);
    }
}
