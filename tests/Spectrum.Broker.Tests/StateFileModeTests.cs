namespace Spectrum.Broker.Tests;

/// <summary>The state files hold every grant and audit record: only the broker's uid may read them (issue 14, item 8).</summary>
public sealed class StateFileModeTests : IDisposable
{
    private readonly TestDirs _dirs = new();

    public void Dispose() => _dirs.Dispose();

    [Fact]
    public async Task DatabaseWalAndShm_Are0600_AfterAStartAndWrites_AndTheFolder0700()
    {
        await using var broker = await BrokerProcess.StartAsync(_dirs);
        await broker.Client.GrantAsync("editor", "Documents", "rw");
        await broker.Client.GrantAsync("viewer", "Pictures");

        const UnixFileMode Private = UnixFileMode.UserRead | UnixFileMode.UserWrite;
        foreach (var file in (string[])[_dirs.Database, _dirs.Database + "-wal", _dirs.Database + "-shm"])
        {
            Assert.True(File.Exists(file), $"{file} is missing (WAL mode keeps it while the broker runs)");
            Assert.Equal(Private, File.GetUnixFileMode(file));
        }

        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute, File.GetUnixFileMode(_dirs.State));
    }
}
