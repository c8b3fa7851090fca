using System.Text;
using Microsoft.Extensions.DependencyInjection;
using Spectrum.Broker.Grants;
using Spectrum.Broker.Hosting;
using Spectrum.Interop;
using static Spectrum.Broker.Tests.Views.ViewSecNative;

namespace Spectrum.Broker.Tests.Views;

/// <summary>
/// The real broker in this process (its GrantService is what the portal calls: a named slot is
/// no control API flag) with its real views mounted; the test process plays the guest on the mount.
/// </summary>
public sealed class ViewSlotFixture : IAsyncLifetime
{
    private int _areas;

    public TestDirs Dirs { get; } = new();

    internal InProcessBroker Broker { get; private set; } = null!;

    internal GrantService Grants => Broker.App.Services.GetRequiredService<BrokerServices>().Grants;

    public async Task InitializeAsync()
    {
        ViewSecFixture.Prepare(Dirs);
        Broker = await InProcessBroker.StartAsync(Dirs, TimeProvider.System);
    }

    public async Task DisposeAsync()
    {
        await Broker.DisposeAsync();
        Dirs.Dispose();
    }

    public string Host(string relative) => Path.Combine(Dirs.Tree, relative);

    public string View(string vm) => ViewSecFixture.ViewPath(Dirs, vm);

    /// <summary>A fresh folder NAME holding inside.txt ("inside\n", never granted here) and Work/notes.txt.</summary>
    public string NewArea(string prefix)
    {
        var name = $"{prefix}{Interlocked.Increment(ref _areas)}";
        Dirs.Write($"{name}/inside.txt", "inside\n");
        Dirs.Write($"{name}/Work/notes.txt", "notes\n");
        return name;
    }

    /// <summary>Grants as the portal does (in-process) and waits until the slot's folder shows in the view.</summary>
    internal async Task<GrantRow> SlotAsync(string vm, string path, string rights = "rw", bool mayNotExist = true)
    {
        var row = await Grants.GrantAsync("test", new GrantSpec { Vm = vm, Path = path, Rights = rights, Source = GrantSources.Portal, MayNotExist = mayNotExist, Session = true });
        await ViewSecFixture.WaitMountedAsync(Dirs, vm);
        var folder = Path.Combine(View(vm), Path.GetDirectoryName(path)!);
        await ViewSecFixture.WaitUntilAsync(() => LStat(folder, out _) == Errno.OK, $"{folder} in the view of {vm}");
        return row;
    }

    public string[] ScratchOnHost(string folder) => Directory.GetFiles(Host(folder), ".spectrum-scratch-*");
}

/// <summary>
/// Named slots (DESIGN.md "Portal": SaveFile grants create and write on exactly one name) and the
/// scratch files that make write-temp-then-rename saves work (ViewFileSystem.Slots.cs).
/// </summary>
public sealed class ViewSlotTests(ViewSlotFixture fixture) : IClassFixture<ViewSlotFixture>
{
    private static Errno WriteNew(string path, string text, int flags = O_WRONLY | O_CREAT | O_EXCL, uint mode = 0x1A0)
    {
        var e = Open(path, flags, out var fd, mode);
        if (e != Errno.OK)
        {
            return e;
        }

        e = PWrite(fd, Encoding.UTF8.GetBytes(text), 0);
        Close(fd);
        return e;
    }

    [Fact]
    public async Task Grant_MayNotExist_RefusesWithoutCreateOrWithoutTheFolder_AndTheCliStillRefusesAnAbsentName()
    {
        var a = fixture.NewArea("refuse");
        var noCreate = await Assert.ThrowsAsync<BrokerRefusal>(() => fixture.Grants.GrantAsync("test", new GrantSpec { Vm = "refuse", Path = $"{a}/new.odt", Rights = "read,write", MayNotExist = true }));
        Assert.Equal(RefusalKind.BadRequest, noCreate.Kind);
        Assert.Contains("create", noCreate.Message, StringComparison.Ordinal);

        var noFolder = await Assert.ThrowsAsync<BrokerRefusal>(() => fixture.Grants.GrantAsync("test", new GrantSpec { Vm = "refuse", Path = $"{a}/Missing/new.odt", Rights = "rw", MayNotExist = true }));
        Assert.Equal(RefusalKind.NotFound, noFolder.Kind);
        Assert.Contains($"'{a}/Missing'", noFolder.Message, StringComparison.Ordinal);

        var folder = await Assert.ThrowsAsync<BrokerRefusal>(() => fixture.Grants.GrantAsync("test", new GrantSpec { Vm = "refuse", Path = $"{a}/Work", Rights = "rw", MayNotExist = true }));
        Assert.Equal(RefusalKind.BadRequest, folder.Kind);

        var cli = await Assert.ThrowsAsync<BrokerRefusal>(() => fixture.Grants.GrantAsync("test", new GrantSpec { Vm = "refuse", Path = $"{a}/new.odt", Rights = "rw" }));
        Assert.Equal(RefusalKind.NotFound, cli.Kind);

        // An existing name with MayNotExist is an ordinary file grant with its identity.
        var existing = await fixture.Grants.GrantAsync("test", new GrantSpec { Vm = "refuse", Path = $"{a}/inside.txt", Rights = "ro", MayNotExist = true });
        Assert.NotNull(existing.Identity);
        Assert.NotNull(existing.ParentIdentity);
    }

    [Fact]
    public async Task AbsentSlot_ReadsEnoentNotStale_IsNotListed_AndAppearsAtOnceWhenTheHostMakesIt()
    {
        var a = fixture.NewArea("absent");
        var row = await fixture.SlotAsync("absent", $"{a}/new.odt");
        Assert.Null(row.Identity);
        Assert.Equal(GrantStates.Active, row.State);
        var v = fixture.View("absent");
        var slot = Path.Combine(v, a, "new.odt");

        Assert.Equal(Errno.ENOENT, LStat(slot, out _));
        Assert.Equal(Errno.ENOENT, TryOpen(slot, O_RDONLY));
        Assert.Empty(List(Path.Combine(v, a)));
        Assert.Equal(GrantStates.Active, fixture.Grants.Show(row.Id).State);

        // No negative entry was cached: made on the host, it is there on the very next lookup.
        File.WriteAllText(fixture.Host($"{a}/new.odt"), "host\n");
        Assert.Equal(Errno.OK, ReadFile(slot, out var text));
        Assert.Equal("host\n", text);
        Assert.Equal(GrantStates.Active, fixture.Grants.Show(row.Id).State);
    }

    [Fact]
    public async Task Slot_CreatingExactlyItsName_WritesTheHostFile_AndOtherNamesStayEnoentAndUncreatableWithoutWrite()
    {
        var a = fixture.NewArea("create");
        await fixture.SlotAsync("create", $"{a}/new.odt", "read,create");
        var v = fixture.View("create");
        Assert.Equal(Errno.OK, StatPath(Path.Combine(v, a), out var folder));
        Assert.Equal(S_IFDIR | 0x1ED, folder.Mode); // writable, so that a guest kernel with default_permissions lets it create
        Assert.Equal(Errno.OK, Access(Path.Combine(v, a), 2));

        Assert.Equal(Errno.OK, WriteNew(Path.Combine(v, a, "new.odt"), "saved\n", mode: 0x1A0));
        Assert.Equal("saved\n", File.ReadAllText(fixture.Host($"{a}/new.odt")));
        Assert.Equal(Errno.OK, StatPath(fixture.Host($"{a}/new.odt"), out var host));
        Assert.Equal((ViewSecFixture.TreeOwner, ViewSecFixture.TreeOwner, 0x1A0u), (host.Uid, host.Gid, host.Mode & 0xFFF));
        Assert.Equal(Errno.OK, ReadFile(Path.Combine(v, a, "new.odt"), out var text));
        Assert.Equal("saved\n", text);
        Assert.Equal(["new.odt"], List(Path.Combine(v, a)));

        // Without write there are no scratch files: every other name is as in any synthesized directory.
        Assert.Equal(Errno.ENOENT, LStat(Path.Combine(v, a, "inside.txt"), out _));
        Assert.Equal(Errno.EACCES, TryOpen(Path.Combine(v, a, "other.txt"), O_WRONLY | O_CREAT | O_EXCL));
        Assert.Equal(Errno.EACCES, Mkdir(Path.Combine(v, a, "dir")));
        Assert.Empty(fixture.ScratchOnHost(a));
        Assert.False(File.Exists(fixture.Host($"{a}/other.txt")));
    }

    [Fact]
    public async Task Scratch_WriteThenRenameOntoTheSlot_ReplacesTheHostFileAtomicallyAndLeavesNoScratchBehind()
    {
        var a = fixture.NewArea("save");
        File.WriteAllText(fixture.Host($"{a}/doc.odt"), "old\n");
        Assert.Equal(Errno.OK, StatPath(fixture.Host($"{a}/doc.odt"), out var before));
        await fixture.SlotAsync("save", $"{a}/doc.odt");
        var v = fixture.View("save");
        var temp = Path.Combine(v, a, ".doc.odt.tmp");

        Assert.Equal(Errno.OK, WriteNew(temp, "new, longer\n"));
        Assert.Equal(Errno.OK, Truncate(temp, 4));
        Assert.Equal(Errno.OK, StatPath(temp, out var scratch));
        Assert.Equal(4UL, scratch.Size);
        Assert.Equal([".doc.odt.tmp", "doc.odt"], List(Path.Combine(v, a)).Order(StringComparer.Ordinal));

        // On the host: a hidden file, never the guest's name.
        Assert.False(File.Exists(fixture.Host($"{a}/.doc.odt.tmp")));
        var hidden = Assert.Single(fixture.ScratchOnHost(a));
        Assert.Matches(@"\.spectrum-scratch-[0-9a-f]{16}$", hidden);
        Assert.Equal("new,", File.ReadAllText(hidden));
        Assert.Equal("old\n", File.ReadAllText(fixture.Host($"{a}/doc.odt")));

        Assert.Equal(Errno.OK, Rename2(temp, Path.Combine(v, a, "doc.odt")));
        Assert.Equal("new,", File.ReadAllText(fixture.Host($"{a}/doc.odt")));
        Assert.Equal(Errno.OK, StatPath(fixture.Host($"{a}/doc.odt"), out var after));
        Assert.NotEqual(before.Ino, after.Ino);
        Assert.Equal(ViewSecFixture.TreeOwner, after.Uid);
        Assert.Empty(fixture.ScratchOnHost(a));
        Assert.Equal(Errno.ENOENT, LStat(temp, out _));
        Assert.Equal(["doc.odt"], List(Path.Combine(v, a)));
        Assert.Equal(Errno.OK, ReadFile(Path.Combine(v, a, "doc.odt"), out var text));
        Assert.Equal("new,", text);

        // The same save with coreutils in the guest's view: write a temp with install, rename with mv.
        var source = Path.Combine(fixture.Dirs.Root, "coreutils-source.txt");
        File.WriteAllText(source, "from coreutils\n");
        var (code, error) = ViewPosixNative.Run("sh", "-c", $"install -m 0644 '{source}' '{v}/{a}/doc.odt.part' && mv -f '{v}/{a}/doc.odt.part' '{v}/{a}/doc.odt'");
        Assert.True(code == 0, error);
        Assert.Equal("from coreutils\n", File.ReadAllText(fixture.Host($"{a}/doc.odt")));
        Assert.Empty(fixture.ScratchOnHost(a));
        Assert.Equal(["Work", "doc.odt", "inside.txt"], Directory.GetFileSystemEntries(fixture.Host(a)).Select(Path.GetFileName).Order(StringComparer.Ordinal));
    }

    [Fact]
    public async Task Scratch_NamedLikeAnUngrantedHostFile_NeitherRevealsNorTouchesIt()
    {
        var a = fixture.NewArea("mask");
        await fixture.SlotAsync("mask", $"{a}/new.odt");
        var v = fixture.View("mask");
        var guest = Path.Combine(v, a, "inside.txt");

        Assert.Equal(Errno.ENOENT, LStat(guest, out _));
        Assert.Equal(Errno.OK, WriteNew(guest, "guest\n")); // O_EXCL: no EEXIST that would tell the host file exists
        Assert.Equal(Errno.OK, ReadFile(guest, out var text));
        Assert.Equal("guest\n", text);
        Assert.Equal("inside\n", File.ReadAllText(fixture.Host($"{a}/inside.txt")));

        // Renamed onto a name that is neither a slot nor a scratch: only the guest's name changes.
        Assert.Equal(Errno.OK, Rename2(guest, Path.Combine(v, a, "Work")));
        Assert.Equal(Errno.OK, ReadFile(Path.Combine(v, a, "Work"), out text));
        Assert.Equal("guest\n", text);
        Assert.True(Directory.Exists(fixture.Host($"{a}/Work")));

        Assert.Equal(Errno.OK, Unlink(Path.Combine(v, a, "Work")));
        Assert.Equal("inside\n", File.ReadAllText(fixture.Host($"{a}/inside.txt")));
        Assert.Equal("notes\n", File.ReadAllText(fixture.Host($"{a}/Work/notes.txt")));
        Assert.Empty(fixture.ScratchOnHost(a));
        Assert.Equal(Errno.ENOENT, LStat(Path.Combine(v, a, "Work"), out _));
        Assert.Equal(Errno.ENOENT, LStat(guest, out _));
    }

    [Fact]
    public async Task Scratch_RenamesOtherThanOntoASlotOrScratch_AreRefused()
    {
        var a = fixture.NewArea("rules");
        File.WriteAllText(fixture.Host($"{a}/doc.odt"), "doc\n");
        await fixture.SlotAsync("rules", $"{a}/doc.odt");
        await fixture.SlotAsync("rules", $"{a}/Work/notes.txt", "ro", mayNotExist: false);
        var v = fixture.View("rules");
        Assert.Equal(Errno.OK, WriteNew(Path.Combine(v, a, "t1"), "one\n"));
        Assert.Equal(Errno.OK, WriteNew(Path.Combine(v, a, "t2"), "two\n"));

        // Onto another scratch name: replaces it.
        Assert.Equal(Errno.OK, Rename2(Path.Combine(v, a, "t1"), Path.Combine(v, a, "t2")));
        Assert.Equal(Errno.OK, ReadFile(Path.Combine(v, a, "t2"), out var text));
        Assert.Equal("one\n", text);
        Assert.Single(fixture.ScratchOnHost(a));

        // Out of the directory, onto a synthesized directory, the slot onto a scratch, an exchange: refused.
        Assert.NotEqual(Errno.OK, Rename2(Path.Combine(v, a, "t2"), Path.Combine(v, a, "Work", "t2")));
        Assert.Equal(Errno.EISDIR, Rename2(Path.Combine(v, a, "t2"), Path.Combine(v, a, "Work"))); // the guest's kernel refuses a file over a directory
        Assert.Equal(Errno.EACCES, Rename2(Path.Combine(v, a, "doc.odt"), Path.Combine(v, a, "t3")));
        Assert.Equal(Errno.EACCES, Rename2(Path.Combine(v, a, "t2"), Path.Combine(v, a, "doc.odt"), flags: 2));
        Assert.Equal("doc\n", File.ReadAllText(fixture.Host($"{a}/doc.odt")));
        Assert.Equal(Errno.OK, ReadFile(Path.Combine(v, a, "t2"), out text));
        Assert.Equal("one\n", text);
    }

    [Fact]
    public async Task Scratch_SeventeenthForOneSlot_IsEdquot()
    {
        var a = fixture.NewArea("quota");
        await fixture.SlotAsync("quota", $"{a}/new.odt");
        var v = fixture.View("quota");
        for (var i = 0; i < 16; i++)
        {
            Assert.Equal(Errno.OK, WriteNew(Path.Combine(v, a, $"t{i}"), "x"));
        }

        Assert.Equal(Errno.EDQUOT, WriteNew(Path.Combine(v, a, "t16"), "x"));
        Assert.Equal(Errno.EDQUOT, Mknod(Path.Combine(v, a, "t17"), S_IFREG | 0x1A4));
        Assert.Equal(16, fixture.ScratchOnHost(a).Length);

        // One gone, one more fits.
        Assert.Equal(Errno.OK, Unlink(Path.Combine(v, a, "t0")));
        Assert.Equal(Errno.OK, Mknod(Path.Combine(v, a, "t16"), S_IFREG | 0x1A4));
        Assert.Equal(16, fixture.ScratchOnHost(a).Length);
        Assert.Equal(16, List(Path.Combine(v, a)).Count); // t1..t16 listed, t0 gone
    }

    [Fact]
    public async Task RevokingTheSlot_RemovesLeftoverScratchHostFiles_AndMakesTheSlotEnoent()
    {
        var a = fixture.NewArea("revoke");
        var row = await fixture.SlotAsync("revoke", $"{a}/new.odt");
        var v = fixture.View("revoke");
        Assert.Equal(Errno.OK, WriteNew(Path.Combine(v, a, "new.odt"), "saved\n"));
        Assert.Equal(Errno.OK, WriteNew(Path.Combine(v, a, "left1"), "x"));
        Assert.Equal(Errno.OK, WriteNew(Path.Combine(v, a, "left2"), "y"));
        Assert.Equal(2, fixture.ScratchOnHost(a).Length);

        await fixture.Grants.RevokeAsync("test", row.Id);
        await ViewSecFixture.WaitUntilAsync(() => fixture.ScratchOnHost(a).Length == 0, "the scratch files to be removed from the host");
        await ViewSecFixture.WaitUntilAsync(() => LStat(Path.Combine(v, a, "new.odt"), out _) == Errno.ENOENT, "the slot to vanish from the view");
        Assert.Equal(Errno.ENOENT, LStat(Path.Combine(v, a, "left1"), out _));
        Assert.Equal(Errno.ENOENT, LStat(Path.Combine(v, a), out _));
        Assert.Equal("saved\n", File.ReadAllText(fixture.Host($"{a}/new.odt"))); // the saved document stays
    }

    [Fact]
    public async Task ExpiryOfTheSlot_RemovesLeftoverScratchHostFiles()
    {
        var a = fixture.NewArea("expire");
        await fixture.Grants.GrantAsync("test", new GrantSpec { Vm = "expire", Path = $"{a}/new.odt", Rights = "rw", MayNotExist = true, Expires = "3s" });
        await ViewSecFixture.WaitMountedAsync(fixture.Dirs, "expire");
        var v = fixture.View("expire");
        await ViewSecFixture.WaitUntilAsync(() => LStat(Path.Combine(v, a), out _) == Errno.OK, "the slot's folder in the view");
        Assert.Equal(Errno.OK, WriteNew(Path.Combine(v, a, "left"), "x"));
        Assert.Single(fixture.ScratchOnHost(a));

        // The expiry sweep (every second here) ends the grant in the store; the view's refresh removes the file.
        await ViewSecFixture.WaitUntilAsync(() => fixture.ScratchOnHost(a).Length == 0, "the scratch file to be removed at expiry");
        Assert.Equal(Errno.ENOENT, LStat(Path.Combine(v, a, "left"), out _));
    }

    [Fact]
    public async Task ReadOnlyFileGrant_AndDirectoryGrant_KeepTheirBehaviour()
    {
        var a = fixture.NewArea("plain");
        await fixture.SlotAsync("plain", $"{a}/inside.txt", "ro", mayNotExist: false);
        var v = fixture.View("plain");
        Assert.Equal(Errno.OK, StatPath(Path.Combine(v, a), out var folder));
        Assert.Equal(S_IFDIR | 0x16D, folder.Mode);
        Assert.Equal(Errno.EACCES, Access(Path.Combine(v, a), 2));
        Assert.Equal(Errno.EACCES, TryOpen(Path.Combine(v, a, "scratch"), O_WRONLY | O_CREAT | O_EXCL));
        Assert.Equal(Errno.EACCES, TryOpen(Path.Combine(v, a, "inside.txt"), O_WRONLY));
        Assert.Equal(Errno.OK, ReadFile(Path.Combine(v, a, "inside.txt"), out var text));
        Assert.Equal("inside\n", text);
        Assert.Empty(fixture.ScratchOnHost(a));

        // A directory grant: a new file is the host file of that name, as before.
        var b = fixture.NewArea("plaindir");
        await fixture.Grants.GrantAsync("test", new GrantSpec { Vm = "plain", Path = b, Rights = "rw" });
        await ViewSecFixture.WaitUntilAsync(() => LStat(Path.Combine(v, b), out _) == Errno.OK, "the directory grant in the view");
        Assert.Equal(Errno.OK, WriteNew(Path.Combine(v, b, "made.txt"), "made\n"));
        Assert.Equal("made\n", File.ReadAllText(fixture.Host($"{b}/made.txt")));
        Assert.Empty(fixture.ScratchOnHost(b));
    }
}

/// <summary>Scratch files left when the broker stops cleanly are removed with its views.</summary>
public sealed class ViewSlotShutdownTests
{
    [Fact]
    public async Task BrokerStop_RemovesScratchHostFiles_AndKeepsTheSavedDocument()
    {
        using var dirs = new TestDirs();
        ViewSecFixture.Prepare(dirs);
        dirs.Write("Docs/keep.txt", "keep\n");
        await using var broker = await InProcessBroker.StartAsync(dirs, TimeProvider.System);
        var grants = broker.App.Services.GetRequiredService<BrokerServices>().Grants;
        await grants.GrantAsync("test", new GrantSpec { Vm = "stop", Path = "Docs/new.odt", Rights = "rw", MayNotExist = true, Source = GrantSources.Portal });
        await ViewSecFixture.WaitMountedAsync(dirs, "stop");
        var v = ViewSecFixture.ViewPath(dirs, "stop");
        await ViewSecFixture.WaitUntilAsync(() => LStat(Path.Combine(v, "Docs"), out _) == Errno.OK, "the slot's folder in the view");

        Assert.Equal(Errno.OK, Open(Path.Combine(v, "Docs", "new.odt"), O_WRONLY | O_CREAT | O_EXCL, out var saved));
        Close(saved);
        Assert.Equal(Errno.OK, Open(Path.Combine(v, "Docs", "tmp1"), O_WRONLY | O_CREAT | O_EXCL, out var held)); // still open at the stop
        Assert.Equal(Errno.OK, Mknod(Path.Combine(v, "Docs", "tmp2"), S_IFREG | 0x1A4));
        Assert.Equal(2, Directory.GetFiles(Path.Combine(dirs.Tree, "Docs"), ".spectrum-scratch-*").Length);

        await broker.StopAsync();
        Close(held);
        Assert.Empty(Directory.GetFiles(Path.Combine(dirs.Tree, "Docs"), ".spectrum-scratch-*"));
        Assert.Equal(["keep.txt", "new.odt"], Directory.GetFiles(Path.Combine(dirs.Tree, "Docs")).Select(Path.GetFileName).Order(StringComparer.Ordinal));
    }
}
