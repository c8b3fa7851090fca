namespace Spectrum.Broker.Tests;

/// <summary>Grants over the real daemon's socket, stored in a real SQLite file.</summary>
public sealed class GrantApiTests : IAsyncLifetime
{
    private readonly TestDirs _dirs = new();
    private BrokerProcess _broker = null!;

    private BrokerClient Client => _broker.Client;

    public async Task InitializeAsync() => _broker = await BrokerProcess.StartAsync(_dirs);

    public async Task DisposeAsync()
    {
        await _broker.DisposeAsync();
        _dirs.Dispose();
    }

    [Fact]
    public async Task Grant_ExistingFile_IsListedWithKindRightsAndIdentity()
    {
        var created = await Client.GrantAsync("editor", "Documents/report.odt", "rw");

        Assert.Matches("^g_[0-9a-f]{16}$", created.Grant.Id);
        Assert.Equal("file", created.Grant.Kind);
        Assert.Equal("rw", created.Grant.Rights);
        Assert.Equal("cli", created.Grant.Source);
        Assert.Equal("active", created.Grant.State);
        Assert.NotNull(created.Grant.Identity);
        var listed = Assert.Single(await Client.ListAsync("editor"));
        Assert.Equal(created.Grant, listed);
        Assert.Null(created.Token);
    }

    [Fact]
    public async Task Grant_Directory_CoversItsSubtreeInWhoCan()
    {
        var created = await Client.GrantAsync("editor", "Documents", "ro");
        await Client.GrantAsync("viewer", "Pictures", "ro");

        var who = await Client.WhoCanAsync("Documents/Work/notes.txt");

        var entry = Assert.Single(who.Entries);
        Assert.Equal(("editor", "ro", created.Grant.Id, "Documents"), (entry.Vm, entry.Rights, entry.GrantId, entry.Via));
        Assert.Empty((await Client.WhoCanAsync("Downloads/README.txt")).Entries);
    }

    [Theory]
    [InlineData("../etc/passwd", "'..'")]
    [InlineData("/etc/passwd", "absolute")]
    [InlineData("Documents//Work", "empty component")]
    [InlineData("Documents/./Work", "'.'")]
    [InlineData("Documents/\0x", "NUL")]
    [InlineData("", "empty")]
    public async Task Grant_PathOutsideTheTree_IsBadRequestAndStoresNothing(string path, string reason)
    {
        var e = await Api.RefusedAsync(() => Client.GrantAsync("editor", path), BrokerFailure.BadRequest);

        Assert.Contains(reason, e.Message, StringComparison.Ordinal);
        Assert.Empty(await Client.ListAsync(all: true));
        Assert.DoesNotContain(await Client.AuditAsync(), r => r.Action == "grant");
    }

    [Fact]
    public async Task Grant_SymlinkOutOfTheTree_IsRefusedAndNothingIsStored()
    {
        File.CreateSymbolicLink(Path.Combine(_dirs.Tree, "escape"), "/etc");
        File.CreateSymbolicLink(Path.Combine(_dirs.Tree, "Documents/link.odt"), "report.odt");

        await Api.RefusedAsync(() => Client.GrantAsync("editor", "escape/passwd"), BrokerFailure.BadRequest);
        await Api.RefusedAsync(() => Client.GrantAsync("editor", "escape"), BrokerFailure.BadRequest);
        await Api.RefusedAsync(() => Client.GrantAsync("editor", "Documents/link.odt"), BrokerFailure.BadRequest);
        Assert.Empty(await Client.ListAsync(all: true));
    }

    [Fact]
    public async Task Grant_MissingPath_IsNotFoundWithTheFix()
    {
        var e = await Api.RefusedAsync(() => Client.GrantAsync("editor", "Documents/nope.odt"), BrokerFailure.Refused);

        Assert.Equal("not_found", e.Code);
        Assert.Contains("does not exist in the tree", e.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("Editor")]
    [InlineData("-vm")]
    [InlineData("vm/x")]
    [InlineData("")]
    public async Task Grant_BadVmName_IsBadRequest(string vm)
    {
        var e = await Api.RefusedAsync(() => Client.GrantAsync(vm, "Documents"), BrokerFailure.BadRequest);
        Assert.Contains("VM name", e.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("rx")]
    [InlineData("read,exec")]
    [InlineData(",")]
    public async Task Grant_BadRights_IsBadRequest(string rights)
    {
        var e = await Api.RefusedAsync(() => Client.GrantAsync("editor", "Documents", rights), BrokerFailure.BadRequest);
        Assert.Contains("right", e.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("8x")]
    [InlineData("0s")]
    [InlineData("-1h")]
    [InlineData("h")]
    public async Task Grant_BadDuration_IsBadRequest(string expires)
    {
        var e = await Api.RefusedAsync(() => Client.GrantAsync("editor", "Documents", "ro", expires), BrokerFailure.BadRequest);
        Assert.Contains("duration", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Revoke_Grant_EndsItAndAuditsOnce()
    {
        var created = await Client.GrantAsync("editor", "Documents", "rw");

        var result = await Client.RevokeAsync(created.Grant.Id);

        Assert.Equal([created.Grant.Id], result.Revoked);
        Assert.Empty(await Client.ListAsync());
        Assert.Equal("revoked", (await Client.ShowAsync(created.Grant.Id)).State);
        Assert.Single(await Client.AuditAsync("&action=revoke"));
        var again = await Api.RefusedAsync(() => Client.RevokeAsync(created.Grant.Id), BrokerFailure.Refused);
        Assert.Equal("conflict", again.Code);
    }

    [Fact]
    public async Task Revoke_ByVmAndPath_EndsOnlyGrantsAtOrBelowThePath()
    {
        var doc = await Client.GrantAsync("editor", "Documents/report.odt");
        var work = await Client.GrantAsync("editor", "Documents/Work");
        var pics = await Client.GrantAsync("editor", "Pictures");
        var other = await Client.GrantAsync("viewer", "Documents");

        var result = await Client.RevokeVmAsync("editor", "Documents");

        Assert.Equal(new[] { doc.Grant.Id, work.Grant.Id }.Order(), result.Revoked.Order());
        Assert.Equal(new[] { pics.Grant.Id, other.Grant.Id }.Order(), (await Client.ListAsync()).Select(g => g.Id).Order());
    }

    [Fact]
    public async Task Show_UnknownGrant_IsNotFound()
    {
        var e = await Api.RefusedAsync(() => Client.ShowAsync("g_0000000000000001"), BrokerFailure.Refused);
        Assert.Equal("not_found", e.Code);
        await Api.RefusedAsync(() => Client.ShowAsync("nonsense"), BrokerFailure.BadRequest);
    }

    [Fact]
    public async Task Grant_WithExpiry_IsSweptAsExpireAfterItPasses()
    {
        var created = await Client.GrantAsync("editor", "Documents", "ro", "2s");
        Assert.NotNull(created.Grant.ExpiresAt);

        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(20);
        while ((await Client.AuditAsync("&action=expire")).Count == 0 && DateTime.UtcNow < deadline)
        {
            await Task.Delay(200);
        }

        var expire = Assert.Single(await Client.AuditAsync("&action=expire"));
        Assert.Equal(created.Grant.Id, expire.GrantId);
        Assert.Equal("expired", (await Client.ShowAsync(created.Grant.Id)).State);
        Assert.Empty(await Client.WhoCanAsync("Documents").ContinueWith(t => t.Result.Entries));
    }

    [Fact]
    public async Task Audit_EveryDecision_HasExactlyOneRecordAndTheChainVerifies()
    {
        var a = await Client.GrantAsync("editor", "Documents");
        var b = await Client.GrantAsync("viewer", "Pictures", "ro");
        await Client.RevokeAsync(a.Grant.Id);

        var records = await Client.AuditAsync();

        Assert.Equal(["grant", "grant", "revoke"], records.Where(r => r.Action is "grant" or "revoke").Select(r => r.Action));
        Assert.Single(records, r => r.Action == "grant" && r.GrantId == b.Grant.Id);
        Assert.Equal(Enumerable.Range(1, records.Count).Select(i => (long)i), records.Select(r => r.Seq));
        var verify = await Client.VerifyAuditAsync();
        Assert.True(verify.Ok, verify.Reason);
        Assert.Equal(records.Count, verify.Records);
    }

    [Fact]
    public async Task Audit_Filters_SelectByVmActionPathGlobAndLimit()
    {
        await Client.GrantAsync("editor", "Documents/Work");
        await Client.GrantAsync("editor", "Pictures/wallpaper.png");
        await Client.GrantAsync("viewer", "Documents/report.odt");

        Assert.Equal(2, (await Client.AuditAsync("&vm=editor&action=grant")).Count);
        Assert.Equal(["Documents/Work", "Documents/report.odt"], (await Client.AuditAsync("&path=" + Uri.EscapeDataString("Documents/**"))).Select(r => r.Path));
        Assert.Equal(["Documents/report.odt"], (await Client.SendAsync(HttpMethod.Get, "/v1/audit?action=grant&limit=1", BrokerJson.Default.IReadOnlyListAuditRecordDto)).Select(r => r.Path));
        Assert.Empty(await Client.AuditAsync("&since=2099-01-01T00:00:00Z"));
        Assert.Equal(3, (await Client.AuditAsync("&action=grant&since=1h")).Count);
        await Api.RefusedAsync(() => Client.AuditAsync("&since=yesterday"), BrokerFailure.BadRequest);
        await Api.RefusedAsync(() => Client.AuditAsync("&action=explode"), BrokerFailure.BadRequest);
    }

    [Fact]
    public async Task Api_MalformedJson_IsBadRequestNamingTheCause()
    {
        using var http = new HttpClient(new SocketsHttpHandler
        {
            ConnectCallback = async (_, ct) =>
            {
                var s = new System.Net.Sockets.Socket(System.Net.Sockets.AddressFamily.Unix, System.Net.Sockets.SocketType.Stream, System.Net.Sockets.ProtocolType.Unspecified);
                await s.ConnectAsync(new System.Net.Sockets.UnixDomainSocketEndPoint(_dirs.Socket), ct);
                return new System.Net.Sockets.NetworkStream(s, ownsSocket: true);
            },
        }) { BaseAddress = new Uri("http://broker") };

        var response = await http.PostAsync(ApiRoutes.Grants, new StringContent("{\"vm\": \"editor\", \"path\": ", System.Text.Encoding.UTF8, "application/json"));

        Assert.Equal(System.Net.HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Contains("malformed request body", await response.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        Assert.Empty(await Client.ListAsync(all: true));
    }
}
