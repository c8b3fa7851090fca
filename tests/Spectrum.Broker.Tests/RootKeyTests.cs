namespace Spectrum.Broker.Tests;

/// <summary>The token root key file: created once, 0600, stable across restarts, rotated by epoch (SECURITY-TESTS.md E, F).</summary>
public sealed class RootKeyTests : IDisposable
{
    private readonly TestDirs _dirs = new();

    private string RootKey => Path.Combine(_dirs.State, "root.key");

    public void Dispose() => _dirs.Dispose();

    [Fact]
    public async Task FirstStart_CreatesA0600KeyThatSurvivesRestarts_AndOldTokensStillVerify()
    {
        string token;
        byte[] keyBytes;
        await using (var broker = await BrokerProcess.StartAsync(_dirs))
        {
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(RootKey));
            var lines = File.ReadAllLines(RootKey);
            Assert.Equal("spectrum-root-key v1", lines[0]);
            Assert.Matches("^epoch 1 [0-9a-f]{64}$", lines[1]);
            Assert.Equal(2, lines.Length);
            Assert.Empty(Directory.GetFiles(_dirs.State, ".root.key.*"));
            keyBytes = File.ReadAllBytes(RootKey);
            token = (await broker.Client.GrantAsync("editor", "Documents", "rw", token: true)).Token!;
            Assert.True((await broker.Client.VerifyTokenAsync(token)).Valid);
            await broker.KillHardAsync();
        }

        await using (var broker = await BrokerProcess.StartAsync(_dirs))
        {
            Assert.Equal(keyBytes, File.ReadAllBytes(RootKey));
            var verdict = await broker.Client.VerifyTokenAsync(token, "editor", "Documents/report.odt", "rw");
            Assert.True(verdict.Valid, verdict.Reason);
            Assert.Equal(0, await broker.StopAsync());
        }

        Assert.Equal(keyBytes, File.ReadAllBytes(RootKey));
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(RootKey));
    }

    [Fact]
    public async Task Rotation_RejectsTokensOfTheOldEpoch_NewTokensVerify_AndItPersists()
    {
        string oldToken;
        string newToken;
        await using (var broker = await BrokerProcess.StartAsync(_dirs))
        {
            oldToken = (await broker.Client.GrantAsync("editor", "Documents", "rw", token: true)).Token!;
            Assert.True((await broker.Client.VerifyTokenAsync(oldToken)).Valid);

            var status = await broker.Client.RotateKeyAsync();

            Assert.Equal(2u, status.KeyEpoch);
            var old = await broker.Client.VerifyTokenAsync(oldToken);
            Assert.False(old.Valid);
            Assert.Contains("key epoch 1", old.Reason, StringComparison.Ordinal);
            newToken = (await broker.Client.GrantAsync("viewer", "Pictures", "ro", token: true)).Token!;
            var fresh = await broker.Client.VerifyTokenAsync(newToken);
            Assert.True(fresh.Valid, fresh.Reason);
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(RootKey));
            Assert.Matches("^spectrum-root-key v1\nepoch 2 [0-9a-f]{64}\n$", File.ReadAllText(RootKey));
            await broker.KillHardAsync();
        }

        await using var restarted = await BrokerProcess.StartAsync(_dirs);
        var oldAgain = await restarted.Client.VerifyTokenAsync(oldToken);
        Assert.False(oldAgain.Valid);
        Assert.Contains("key epoch 1", oldAgain.Reason, StringComparison.Ordinal);
        Assert.True((await restarted.Client.VerifyTokenAsync(newToken)).Valid);
        Assert.True((await restarted.Client.VerifyAuditAsync()).Ok);
    }
}
