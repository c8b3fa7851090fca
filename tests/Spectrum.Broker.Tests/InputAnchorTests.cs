namespace Spectrum.Broker.Tests;

/// <summary>
/// Names and ids are validated whole: a trailing newline is not a valid end (.NET's <c>$</c> matches
/// before one; the patterns end in <c>\z</c>). Through the real daemon and its real socket.
/// </summary>
public sealed class InputAnchorTests : IAsyncLifetime
{
    private readonly TestDirs _dirs = new();
    private BrokerProcess _broker = null!;

    public async Task InitializeAsync() => _broker = await BrokerProcess.StartAsync(_dirs);

    public async Task DisposeAsync()
    {
        await _broker.DisposeAsync();
        _dirs.Dispose();
    }

    [Fact]
    public async Task Grant_VmNameWithTrailingNewline_IsRefused400_AndMakesNoVmNorFolder()
    {
        var (status, body) = await _broker.HttpAsync(HttpMethod.Post, "/v1/grants", """{"vm":"vm1\n","path":"Documents"}""");

        Assert.Equal(400, status);
        using var json = System.Text.Json.JsonDocument.Parse(body);
        var message = json.RootElement.GetProperty("message").GetString()!;
        Assert.StartsWith(@"bad VM name 'vm1\x0a'; use 1-64 characters", message, StringComparison.Ordinal);
        Assert.DoesNotContain('\n', message);
        Assert.Empty(await _broker.Client.VmsAsync());
        Assert.Empty(await _broker.Client.ListAsync(all: true));
        var vmDir = Path.Combine(_dirs.Run, "vm");
        Assert.False(Directory.Exists(vmDir) && Directory.EnumerateFileSystemEntries(vmDir).Any(), "a folder was made for the refused VM name");
    }

    [Fact]
    public async Task ShowAndRevoke_GrantIdWithTrailingNewline_AreRefused400_AndRevokeNothing()
    {
        var created = await _broker.Client.GrantAsync("editor", "Documents");
        var id = Uri.EscapeDataString(created.Grant.Id + "\n");

        var (showStatus, showBody) = await _broker.HttpAsync(HttpMethod.Get, "/v1/grants/" + id);
        var (revokeStatus, revokeBody) = await _broker.HttpAsync(HttpMethod.Delete, "/v1/grants/" + id);

        Assert.Equal(400, showStatus);
        Assert.Contains("bad grant id", showBody, StringComparison.Ordinal);
        Assert.Equal(400, revokeStatus);
        Assert.Contains("bad grant id", revokeBody, StringComparison.Ordinal);
        Assert.Equal("active", (await _broker.Client.ShowAsync(created.Grant.Id)).State);
    }
}
