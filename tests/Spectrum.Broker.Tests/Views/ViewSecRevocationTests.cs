using System.Diagnostics;
using Spectrum.Interop;
using static Spectrum.Broker.Tests.Views.ViewSecNative;

namespace Spectrum.Broker.Tests.Views;

/// <summary>
/// SECURITY-TESTS.md E as it applies to views: revocation (open handles, new lookups, kernel
/// caches), expiry, and kill -9 of the broker followed by a restart on the same state. Each test
/// has its own daemon, since one of them kills it.
/// </summary>
public sealed class ViewSecRevocationTests : IAsyncLifetime
{
    private readonly TestDirs _dirs = new();
    private BrokerProcess _broker = null!;

    private BrokerClient Client => _broker.Client;

    private string View(string vm) => ViewSecFixture.ViewPath(_dirs, vm);

    public async Task InitializeAsync()
    {
        ViewSecFixture.Prepare(_dirs);
        _dirs.Policy("declared", "[[grant]]\npath = \"Pictures\"\nrights = \"ro\"\n");
        _broker = await BrokerProcess.StartAsync(_dirs);
    }

    public async Task DisposeAsync()
    {
        await _broker.DisposeAsync();
        _dirs.Dispose();
    }

    private async Task<GrantDto> GrantAsync(string vm, string path, string rights, string? expires = null)
    {
        var created = await Client.GrantAsync(vm, path, rights, expires);
        await ViewSecFixture.WaitMountedAsync(_dirs, vm);
        await ViewSecFixture.WaitUntilAsync(() => LStat(Path.Combine(View(vm), path), out _) == Errno.OK, $"{path} in the view");
        return created.Grant;
    }

    [Fact]
    public async Task Revoke_OpenHandlesFailTheirNextOperation_LookupsFail_AndListingsDropIt()
    {
        var grant = await GrantAsync("editor", "Documents", "rw");
        await GrantAsync("editor", "Downloads", "ro");
        var v = View("editor");
        Assert.Equal(Errno.OK, Open(Path.Combine(v, "Documents", "report.odt"), O_RDONLY, out var reader));
        Assert.Equal(Errno.OK, Open(Path.Combine(v, "Documents", "Work", "notes.txt"), O_RDWR, out var writer));
        Assert.Equal(Errno.OK, Open(Path.Combine(v, "Documents", "Work"), O_PATH | O_DIRECTORY, out var dir));
        try
        {
            // Warm every cache the kernel has: pages, attributes, entries, the listing.
            Assert.Equal(Errno.OK, ReadText(reader, out var text));
            Assert.Equal("report\n", text);
            Assert.Equal(Errno.OK, PWrite(writer, "n"u8, 0));
            Assert.Equal(Errno.OK, LStat(Path.Combine(v, "Documents", "report.odt"), out _));
            Assert.Equal(["Documents", "Downloads"], List(v));
            Assert.Equal(["Work", "report.odt"], List(Path.Combine(v, "Documents")));

            await Client.RevokeAsync(grant.Id);

            // Right after the revoke returns: no new lookup, no open handle, no cached listing.
            Assert.NotEqual(Errno.OK, PRead(reader, new byte[16], 0, out _));
            Assert.NotEqual(Errno.OK, PWrite(writer, "x"u8, 0));
            Assert.NotEqual(Errno.OK, OpenAt(dir, "notes.txt", O_RDONLY, 0, out _));
            Assert.Equal(Errno.ENOENT, LStat(Path.Combine(v, "Documents", "report.odt"), out _));
            Assert.Equal(Errno.ENOENT, LStat(Path.Combine(v, "Documents"), out _));
            Assert.Equal(Errno.ENOENT, TryOpen(Path.Combine(v, "Documents", "Work", "notes.txt"), O_RDONLY));
            Assert.Equal(Errno.ENOENT, TryOpen(Path.Combine(v, "Documents", "new.txt"), O_WRONLY | O_CREAT));
            Assert.Equal(["Downloads"], List(v));
            Assert.Equal(Errno.OK, ReadFile(Path.Combine(v, "Downloads", "README.txt"), out var other));
            Assert.Equal("downloads\n", other);
        }
        finally
        {
            Close(reader);
            Close(writer);
            Close(dir);
        }

        Assert.Equal("notes\n", File.ReadAllText(Path.Combine(_dirs.Tree, "Documents/Work/notes.txt")));
        Assert.False(File.Exists(Path.Combine(_dirs.Tree, "Documents/new.txt")));

        // Revoking the last grant leaves an empty view, still mounted.
        await Client.RevokeVmAsync("editor");
        Assert.Empty(List(v));
        Assert.Equal(1, ViewSecFixture.MountCount(v));
    }

    [Fact]
    public async Task Expiry_BehavesLikeRevoke()
    {
        var grant = await GrantAsync("temp", "Documents", "rw", expires: "3s");
        var v = View("temp");
        Assert.Equal(Errno.OK, Open(Path.Combine(v, "Documents", "report.odt"), O_RDONLY, out var reader));
        try
        {
            Assert.Equal(Errno.OK, ReadText(reader, out _));
            await ViewSecFixture.WaitUntilAsync(() => LStat(Path.Combine(v, "Documents"), out _) == Errno.ENOENT, "the expired grant to vanish", seconds: 8);
            Assert.NotEqual(Errno.OK, PRead(reader, new byte[16], 0, out _));
            Assert.Empty(List(v));
            Assert.Equal(Errno.ENOENT, TryOpen(Path.Combine(v, "Documents", "report.odt"), O_RDONLY));
        }
        finally
        {
            Close(reader);
        }

        Assert.Equal("expired", (await Client.ShowAsync(grant.Id)).State);
    }

    [Fact]
    public async Task Kill9_ThenRestart_ViewsComeBack_WithExactlyOneMountEach()
    {
        await GrantAsync("editor", "Documents", "rw");
        var gone = await GrantAsync("viewer", "Pictures", "ro");
        await GrantAsync("viewer", "Downloads", "ro");
        await ViewSecFixture.WaitMountedAsync(_dirs, "declared");
        await Client.RevokeAsync(gone.Id);
        string[] vms = ["editor", "viewer", "declared"];

        await _broker.KillHardAsync();
        foreach (var vm in vms)
        {
            // The dead broker's mounts are still there, and answer nothing.
            Assert.Equal(1, ViewSecFixture.MountCount(View(vm)));
            Assert.NotEqual(Errno.OK, LStat(Path.Combine(View(vm), "x"), out _));
        }

        var clock = Stopwatch.StartNew();
        _broker = await BrokerProcess.StartAsync(_dirs);
        foreach (var vm in vms)
        {
            await ViewSecFixture.WaitMountedAsync(_dirs, vm);
        }

        await ViewSecFixture.WaitUntilAsync(() => ReadFile(Path.Combine(View("editor"), "Documents", "report.odt"), out var t) == Errno.OK && t == "report\n", "the editor's view to serve again");
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(20));
        Assert.Equal(Errno.OK, ReadFile(Path.Combine(View("declared"), "Pictures", "wallpaper.png"), out var png));
        Assert.Equal("png\n", png);
        Assert.Equal(["Downloads"], List(View("viewer")));
        Assert.Equal(Errno.ENOENT, LStat(Path.Combine(View("viewer"), "Pictures"), out _));

        // Exactly one mount per view path, and no other mount of ours anywhere under the test root.
        var ours = File.ReadAllLines("/proc/self/mountinfo").Select(l => l.Split(' ')[4]).Where(m => m.StartsWith(_dirs.Root + "/", StringComparison.Ordinal)).Order(StringComparer.Ordinal).ToList();
        Assert.Equal(vms.Select(View).Order(StringComparer.Ordinal), ours);
        Assert.True((await Client.VerifyAuditAsync()).Ok);
        Assert.Equal(0, await _broker.StopAsync());
        Assert.DoesNotContain(File.ReadAllLines("/proc/self/mountinfo"), l => l.Split(' ')[4].StartsWith(_dirs.Root + "/", StringComparison.Ordinal));
    }
}
