using System.Text.RegularExpressions;
using Spectrum.Interop;
using static Spectrum.Broker.Tests.Views.ViewSecNative;

namespace Spectrum.Broker.Tests.Views;

/// <summary>
/// Rights on the real mount: what a grant lets a guest do and what it refuses, with real system
/// calls from this process (the "guest"), checked on the host tree afterwards. DESIGN.md "Grants
/// and views"; SECURITY-TESTS.md C (hard links, rename across grants, devices) and the denial rule.
/// </summary>
public sealed partial class ViewSecRightsTests(ViewSecFixture fixture) : IClassFixture<ViewSecFixture>
{
    private string View(string vm) => fixture.View(vm);

    private string Host(string relative) => fixture.Host(relative);

    [Fact]
    public async Task UngrantedNames_AreEnoent_AndSynthesizedAncestorsListOnlyGrantsAndRefuseChanges()
    {
        var a = fixture.NewArea("anc");
        await fixture.GrantAsync("anc", $"{a}/Work", "rw");
        var v = View("anc");

        Assert.Equal([a], List(v));
        Assert.Equal(["Work"], List(Path.Combine(v, a)));
        Assert.Equal(["notes.txt"], List(Path.Combine(v, a, "Work")));
        Assert.Equal(Errno.OK, StatPath(Path.Combine(v, a), out var ancestor));
        Assert.Equal(S_IFDIR | 0x16D, ancestor.Mode);
        Assert.Equal((1000u, 1000u), (ancestor.Uid, ancestor.Gid));

        // Existing and missing names answer alike: ENOENT, never EACCES.
        foreach (var name in (string[])[$"{a}/inside.txt", $"{a}-private", $"{a}-private/notes.txt", $"{a}/nope", ".ssh/id_ed25519", "Documents", "nope", $"{a}/Work/nope"])
        {
            Assert.Equal(Errno.ENOENT, LStat(Path.Combine(v, name), out _));
            Assert.Equal(Errno.ENOENT, TryOpen(Path.Combine(v, name), O_RDONLY));
        }

        // Synthesized directories only lead to grants: nothing is made or removed in them.
        Assert.Equal(Errno.EACCES, Mkdir(Path.Combine(v, a, "made")));
        Assert.Equal(Errno.EACCES, Mkdir(Path.Combine(v, "made")));
        Assert.Equal(Errno.EACCES, TryOpen(Path.Combine(v, a, "made.txt"), O_WRONLY | O_CREAT));
        Assert.Equal(Errno.EACCES, TryOpen(Path.Combine(v, "made.txt"), O_WRONLY | O_CREAT | O_EXCL));
        Assert.Equal(Errno.EACCES, Symlink("/etc/passwd", Path.Combine(v, a, "made-link")));
        Assert.Equal(Errno.EACCES, Mknod(Path.Combine(v, a, "made-node"), S_IFREG | 0x1A4));
        Assert.Equal(Errno.EACCES, Rmdir(Path.Combine(v, a, "Work")));
        Assert.Equal(Errno.EACCES, Rename2(Path.Combine(v, a, "Work"), Path.Combine(v, a, "Work2")));
        Assert.Equal(Errno.EACCES, Rename2(Path.Combine(v, a, "Work", "notes.txt"), Path.Combine(v, a, "notes.txt")));
        Assert.Equal(Errno.ENOENT, Unlink(Path.Combine(v, a, "inside.txt")));
        Assert.Equal(Errno.EACCES, Chmod(Path.Combine(v, a), 0x1FF));
        Assert.Equal(Errno.EACCES, SetXattr(Path.Combine(v, a), "user.x", "1"));

        Assert.Equal(["Work", "inside.txt"], Directory.GetFileSystemEntries(Host(a)).Select(Path.GetFileName).Order(StringComparer.Ordinal));
        Assert.Equal(["Work"], List(Path.Combine(v, a)));
        Assert.True(Directory.Exists(Host($"{a}/Work")));
        Assert.False(File.Exists(Host("made.txt")));
    }

    [Fact]
    public async Task ReadOnlyGrant_RefusesEveryWriteWithEaccesAndLeavesTheHostUntouched()
    {
        var a = fixture.NewArea("ro");
        await fixture.GrantAsync("ro", a, "ro");
        var v = Path.Combine(View("ro"), a);
        var file = Path.Combine(v, "inside.txt");

        Assert.Equal(Errno.OK, ReadFile(file, out var text));
        Assert.Equal("inside\n", text);
        Assert.Equal(Errno.EACCES, TryOpen(file, O_WRONLY));
        Assert.Equal(Errno.EACCES, TryOpen(file, O_RDWR));
        Assert.Equal(Errno.EACCES, TryOpen(file, O_RDONLY | O_TRUNC));
        Assert.Equal(Errno.EACCES, Truncate(file, 0));
        Assert.Equal(Errno.EACCES, TryOpen(Path.Combine(v, "new.txt"), O_WRONLY | O_CREAT));
        Assert.Equal(Errno.EACCES, Mkdir(Path.Combine(v, "newdir")));
        Assert.Equal(Errno.EACCES, Mknod(Path.Combine(v, "newnode"), S_IFREG | 0x1A4));
        Assert.Equal(Errno.EACCES, Symlink("inside.txt", Path.Combine(v, "newlink")));
        Assert.Equal(Errno.EACCES, Link(file, Path.Combine(v, "hardlink")));
        Assert.Equal(Errno.EACCES, Unlink(file));
        Assert.Equal(Errno.EACCES, Unlink(Path.Combine(v, "Work", "notes.txt")));
        Assert.Equal(Errno.EACCES, Rmdir(Path.Combine(v, "Work")));
        Assert.Equal(Errno.EACCES, Rename2(file, Path.Combine(v, "renamed.txt")));
        Assert.Equal(Errno.EACCES, Chmod(file, 0x1B6));
        Assert.Equal(Errno.EACCES, SetXattr(file, "user.x", "1"));
        Assert.Equal(Errno.EPERM, Chown(file, 0, 0));

        Assert.Equal("inside\n", File.ReadAllText(Host($"{a}/inside.txt")));
        Assert.Equal(["Work", "inside.txt"], Directory.GetFileSystemEntries(Host(a)).Select(Path.GetFileName).Order(StringComparer.Ordinal));
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead, File.GetUnixFileMode(Host($"{a}/inside.txt")));
    }

    [Fact]
    public async Task CreateDeleteAndRenameRights_EachGateTheirOperation()
    {
        // read,create: new names, nothing else.
        var c = fixture.NewArea("cr");
        await fixture.GrantAsync("cr", c, "read,create");
        var vc = Path.Combine(View("cr"), c);
        Assert.Equal(Errno.OK, Open(Path.Combine(vc, "new.txt"), O_WRONLY | O_CREAT | O_EXCL, out var fd));
        try
        {
            Assert.Equal(Errno.OK, PWrite(fd, "made\n"u8, 0));
        }
        finally
        {
            Close(fd);
        }

        Assert.Equal("made\n", File.ReadAllText(Host($"{c}/new.txt")));
        Assert.Equal(Errno.OK, Mkdir(Path.Combine(vc, "newdir")));
        Assert.True(Directory.Exists(Host($"{c}/newdir")));
        Assert.Equal(Errno.EACCES, TryOpen(Path.Combine(vc, "inside.txt"), O_WRONLY));
        Assert.Equal(Errno.EACCES, Unlink(Path.Combine(vc, "inside.txt")));
        Assert.Equal(Errno.EACCES, Rename2(Path.Combine(vc, "inside.txt"), Path.Combine(vc, "moved.txt")));
        Assert.Equal(Errno.EACCES, Chmod(Path.Combine(vc, "inside.txt"), 0x180));

        // read,delete: removal only.
        var d = fixture.NewArea("del");
        await fixture.GrantAsync("del", d, "read,delete");
        var vd = Path.Combine(View("del"), d);
        Assert.Equal(Errno.EACCES, TryOpen(Path.Combine(vd, "new.txt"), O_WRONLY | O_CREAT));
        Assert.Equal(Errno.EACCES, Rename2(Path.Combine(vd, "inside.txt"), Path.Combine(vd, "moved.txt")));
        Assert.Equal(Errno.EACCES, TryOpen(Path.Combine(vd, "inside.txt"), O_WRONLY));
        Assert.Equal(Errno.OK, Unlink(Path.Combine(vd, "inside.txt")));
        Assert.False(File.Exists(Host($"{d}/inside.txt")));
        Assert.False(File.Exists(Host($"{d}/new.txt")));

        // read,rename: moves within the grant, but never over an existing name (that needs delete).
        var r = fixture.NewArea("ren");
        File.WriteAllText(Host($"{r}/victim.txt"), "victim\n");
        await fixture.GrantAsync("ren", r, "read,rename");
        var vr = Path.Combine(View("ren"), r);
        Assert.Equal(Errno.EACCES, TryOpen(Path.Combine(vr, "new.txt"), O_WRONLY | O_CREAT));
        Assert.Equal(Errno.EACCES, Unlink(Path.Combine(vr, "inside.txt")));
        Assert.Equal(Errno.EACCES, Rename2(Path.Combine(vr, "inside.txt"), Path.Combine(vr, "victim.txt")));
        Assert.Equal("victim\n", File.ReadAllText(Host($"{r}/victim.txt")));
        Assert.Equal(Errno.OK, Rename2(Path.Combine(vr, "inside.txt"), Path.Combine(vr, "Work", "moved.txt")));
        Assert.Equal("inside\n", File.ReadAllText(Host($"{r}/Work/moved.txt")));
        Assert.Equal(Errno.EEXIST, Rename2(Path.Combine(vr, "Work", "moved.txt"), Path.Combine(vr, "victim.txt"), RENAME_NOREPLACE));
        Assert.Equal("victim\n", File.ReadAllText(Host($"{r}/victim.txt")));
    }

    [Fact]
    public async Task Create_OfANameThatAppearedSinceTheGuestLooked_FollowsTheRulesOfOpen()
    {
        // The guest's kernel caches "no such name" for a moment; a file the host makes meanwhile
        // reaches the broker as a CREATE. It must not be truncated or handed over for writing
        // without `write`, re-owned, followed, or opened if it is a FIFO.
        var a = fixture.NewArea("late");
        await fixture.GrantAsync("late", a, "read,create");
        var v = Path.Combine(View("late"), a);

        Assert.Equal(Errno.ENOENT, LStat(Path.Combine(v, "late.txt"), out _));
        File.WriteAllText(Host($"{a}/late.txt"), "host\n");
        Assert.Equal(Errno.EACCES, TryOpen(Path.Combine(v, "late.txt"), O_WRONLY | O_CREAT | O_TRUNC));
        Assert.Equal("host\n", File.ReadAllText(Host($"{a}/late.txt")));
        Assert.Equal(Errno.OK, LStat(Host($"{a}/late.txt"), out var untouched));
        Assert.Equal(0u, untouched.Uid);

        Assert.Equal(Errno.ENOENT, LStat(Path.Combine(v, "late.fifo"), out _));
        Assert.Equal(Errno.OK, Mknod(Host($"{a}/late.fifo"), S_IFIFO | 0x1B6));
        var open = Task.Run(() => TryOpen(Path.Combine(v, "late.fifo"), O_RDONLY | O_CREAT));
        Assert.True(await Task.WhenAny(open, Task.Delay(TimeSpan.FromSeconds(3))) == open, "create over a FIFO blocked");
        Assert.NotEqual(Errno.OK, await open);

        Assert.Equal(Errno.ENOENT, LStat(Path.Combine(v, "late.excl"), out _));
        File.WriteAllText(Host($"{a}/late.excl"), "host\n");
        Assert.Equal(Errno.EEXIST, TryOpen(Path.Combine(v, "late.excl"), O_WRONLY | O_CREAT | O_EXCL));

        // With `write`, the existing file is simply opened: not truncated without O_TRUNC, not re-owned.
        var b = fixture.NewArea("late");
        await fixture.GrantAsync("late", b, "rw");
        var w = Path.Combine(View("late"), b);
        Assert.Equal(Errno.ENOENT, LStat(Path.Combine(w, "late.txt"), out _));
        File.WriteAllText(Host($"{b}/late.txt"), "host\n");
        Assert.Equal(Errno.OK, Open(Path.Combine(w, "late.txt"), O_RDWR | O_CREAT, out var fd));
        try
        {
            Assert.Equal(Errno.OK, ReadText(fd, out var text));
            Assert.Equal("host\n", text);
        }
        finally
        {
            Close(fd);
        }

        Assert.Equal(Errno.OK, LStat(Host($"{b}/late.txt"), out var kept));
        Assert.Equal(0u, kept.Uid);
    }

    [Fact]
    public async Task Chown_SetuidBits_AndDeviceNodes_AreAlwaysRefusedWithEperm()
    {
        var a = fixture.NewArea("perm");
        await fixture.GrantAsync("perm", a, "rw");
        var v = Path.Combine(View("perm"), a);
        var file = Path.Combine(v, "inside.txt");

        Assert.Equal(Errno.EPERM, Chown(file, 0, 0));
        Assert.Equal(Errno.EPERM, Chown(file, 1001, 1001));
        Assert.Equal(Errno.OK, Chown(file, 1000, 1000)); // the owner the guest already sees: a no-op
        Assert.Equal(Errno.EPERM, Chown(Path.Combine(v, "Work"), 0, 0));
        Assert.Equal(Errno.OK, Chmod(file, 0x1C0)); // 0700: setattr is part of rw
        Assert.Equal(Errno.EPERM, Chmod(file, 0x9ED)); // 04755
        Assert.Equal(Errno.EPERM, Chmod(file, 0x5ED)); // 02755
        Assert.Equal(Errno.EPERM, Chmod(Path.Combine(v, "Work"), 0x5FF)); // 02777 (sticky alone is allowed on a directory)
        Assert.Equal(Errno.EPERM, Chmod(file, 0x3C0)); // 01700: sticky on a file
        Assert.Equal(Errno.OK, LStat(Host($"{a}/inside.txt"), out var host));
        Assert.Equal(S_IFREG | 0x1C0, host.Mode);
        Assert.Equal(0u, host.Uid);

        Assert.Equal(Errno.EPERM, Mknod(Path.Combine(v, "fifo"), S_IFIFO | 0x1A4));
        Assert.Equal(Errno.EPERM, Mknod(Path.Combine(v, "null"), S_IFCHR | 0x1B6, (1UL << 8) | 3));
        Assert.Equal(Errno.EPERM, Mknod(Path.Combine(v, "sda"), 0x6000 | 0x1B6, 8UL << 8));
        Assert.Equal(Errno.EPERM, Mknod(Path.Combine(v, "sock"), S_IFSOCK | 0x1A4));
        Assert.Equal(Errno.OK, Mknod(Path.Combine(v, "plain"), S_IFREG | 0x1A4));
        Assert.Equal(["Work", "inside.txt", "plain"], Directory.GetFileSystemEntries(Host(a)).Select(Path.GetFileName).Order(StringComparer.Ordinal));

        Assert.Equal(Errno.EOPNOTSUPP, SetXattr(file, "trusted.spectrum", "1")); // as a filesystem without that namespace (ViewFileSystem.Unsupported)
        Assert.NotEqual(Errno.OK, SetXattr(file, "security.capability", "1")); // the kernel itself checks this value (EINVAL)
        Assert.Equal(Errno.OK, SetXattr(file, "user.spectrum", "1"));
    }

    [Fact]
    public async Task HardLinks_AcrossGrantsAreExdev_WithinADirectoryGrantWork()
    {
        var a = fixture.NewArea("lnk");
        var b = fixture.NewArea("lnk");
        var f = fixture.NewArea("lnk");
        File.WriteAllText(Host($"{f}/single.txt"), "single\n");
        await fixture.GrantAsync("lnk", a, "rw");
        await fixture.GrantAsync("lnk", b, "rw");
        await fixture.GrantAsync("lnk", $"{f}/single.txt", "rw");
        var v = View("lnk");

        // Within one directory grant: an ordinary hard link.
        Assert.Equal(Errno.OK, Link(Path.Combine(v, a, "inside.txt"), Path.Combine(v, a, "Work", "linked.txt")));
        Assert.Equal(Errno.OK, LStat(Host($"{a}/inside.txt"), out var original));
        Assert.Equal(Errno.OK, LStat(Host($"{a}/Work/linked.txt"), out var linked));
        Assert.Equal((original.Ino, 2u), (linked.Ino, linked.Nlink));

        // Across grants, from a file grant, to ungranted or synthesized places: refused, nothing made.
        Assert.Equal(Errno.EXDEV, Link(Path.Combine(v, a, "inside.txt"), Path.Combine(v, b, "x.txt")));
        Assert.Equal(Errno.EXDEV, Link(Path.Combine(v, b, "inside.txt"), Path.Combine(v, a, "x.txt")));
        Assert.Equal(Errno.EXDEV, Link(Path.Combine(v, f, "single.txt"), Path.Combine(v, a, "y.txt")));
        Assert.Equal(Errno.ENOENT, Link(Path.Combine(v, a, "inside.txt"), Path.Combine(v, $"{a}-private", "x.txt")));
        Assert.NotEqual(Errno.OK, Link(Path.Combine(v, a, "inside.txt"), Path.Combine(v, "x.txt")));
        Assert.NotEqual(Errno.OK, Link(Path.Combine(v, a, "inside.txt"), Path.Combine(v, f, "x.txt")));

        // From an ungranted file into a grant: the guest cannot name it through the view, and the
        // kernel refuses links between mounts.
        Assert.Equal(Errno.ENOENT, Link(Path.Combine(v, $"{a}-private", "notes.txt"), Path.Combine(v, a, "z.txt")));
        Assert.Equal(Errno.EXDEV, Link(Host($"{a}-private/notes.txt"), Path.Combine(v, a, "z.txt")));
        Assert.Equal(Errno.EXDEV, Link(Path.Combine(v, a, "inside.txt"), Host($"{a}-private/z.txt")));

        Assert.False(File.Exists(Host($"{b}/x.txt")));
        Assert.False(File.Exists(Host($"{a}/x.txt")));
        Assert.False(File.Exists(Host($"{a}/y.txt")));
        Assert.False(File.Exists(Host($"{a}/z.txt")));
        Assert.False(File.Exists(Host("x.txt")));
        Assert.False(File.Exists(Host($"{a}-private/x.txt")));
        Assert.False(File.Exists(Host($"{a}-private/z.txt")));
        Assert.Equal(Errno.OK, LStat(Host($"{a}-private/notes.txt"), out var secret));
        Assert.Equal(1u, secret.Nlink);
    }

    [Fact]
    public async Task PreExistingHardLink_IsServedAsTheGrantedName_Documented()
    {
        // A hard link made on the host before (or outside) the grant is the same file under a
        // granted name: the view serves it, as DESIGN.md documents; the other name stays hidden.
        var a = fixture.NewArea("prelink");
        Assert.Equal(Errno.OK, Link(Host($"{a}-private/notes.txt"), Host($"{a}/shared.txt")));
        await fixture.GrantAsync("prelink", a, "ro");
        var v = View("prelink");

        Assert.Equal(Errno.OK, ReadFile(Path.Combine(v, a, "shared.txt"), out var text));
        Assert.Equal("SECRET\n", text);
        Assert.Equal(Errno.OK, LStat(Path.Combine(v, a, "shared.txt"), out var st));
        Assert.Equal(2u, st.Nlink);
        Assert.Equal(Errno.ENOENT, LStat(Path.Combine(v, $"{a}-private", "notes.txt"), out _));
    }

    [Fact]
    public async Task Rename_AcrossAGrantBoundaryIsExdev_WithinAGrantWorks()
    {
        var a = fixture.NewArea("mv");
        var b = fixture.NewArea("mv");
        var nested = fixture.NewArea("mv");
        await fixture.GrantAsync("mv", a, "rw");
        await fixture.GrantAsync("mv", b, "rw");
        await fixture.GrantAsync("mv", nested, "rw");
        await fixture.GrantAsync("mv", $"{nested}/Work", "rw");
        var v = View("mv");

        Assert.Equal(Errno.EXDEV, Rename2(Path.Combine(v, a, "inside.txt"), Path.Combine(v, b, "moved.txt")));
        Assert.Equal(Errno.EXDEV, Rename2(Path.Combine(v, a, "Work"), Path.Combine(v, b, "Work2")));
        Assert.Equal(Errno.EXDEV, Rename2(Path.Combine(v, a, "inside.txt"), Path.Combine(v, b, "inside.txt"), RENAME_EXCHANGE));
        Assert.Equal(Errno.EXDEV, Rename2(Path.Combine(v, nested, "inside.txt"), Path.Combine(v, nested, "Work", "moved.txt")));
        Assert.Equal(Errno.EXDEV, Rename2(Path.Combine(v, nested, "Work", "notes.txt"), Path.Combine(v, nested, "notes.txt")));
        Assert.Equal(Errno.ENOENT, Rename2(Path.Combine(v, a, "inside.txt"), Path.Combine(v, $"{a}-private", "moved.txt")));
        Assert.NotEqual(Errno.OK, Rename2(Path.Combine(v, a, "inside.txt"), Path.Combine(v, "moved.txt")));
        Assert.Equal(Errno.EXDEV, Rename2(Path.Combine(v, a, "inside.txt"), Host($"{a}-private/moved.txt")));
        Assert.Equal("inside\n", File.ReadAllText(Host($"{a}/inside.txt")));
        Assert.False(File.Exists(Host("moved.txt")));
        Assert.False(File.Exists(Host($"{b}/moved.txt")));

        Assert.Equal(Errno.OK, Rename2(Path.Combine(v, a, "inside.txt"), Path.Combine(v, a, "Work", "moved.txt")));
        Assert.Equal("inside\n", File.ReadAllText(Host($"{a}/Work/moved.txt")));
    }

    [Fact]
    public async Task CreatedThroughTheView_BelongsToTheTreeOwner_AndTheGuestSeesGuestIds()
    {
        var a = fixture.NewArea("own");
        await fixture.GrantAsync("own", a, "rw");
        var v = Path.Combine(View("own"), a);

        Assert.Equal(Errno.OK, TryOpen(Path.Combine(v, "made.txt"), O_WRONLY | O_CREAT | O_EXCL));
        Assert.Equal(Errno.OK, Mkdir(Path.Combine(v, "madedir")));
        Assert.Equal(Errno.OK, Symlink("made.txt", Path.Combine(v, "madelink")));
        Assert.Equal(Errno.OK, Mknod(Path.Combine(v, "madenode"), S_IFREG | 0x1A4));

        foreach (var name in (string[])["made.txt", "madedir", "madelink", "madenode"])
        {
            Assert.Equal(Errno.OK, LStat(Host($"{a}/{name}"), out var host));
            Assert.Equal((ViewSecFixture.TreeOwner, ViewSecFixture.TreeOwner), (host.Uid, host.Gid));
            Assert.Equal(Errno.OK, LStat(Path.Combine(v, name), out var guest));
            Assert.Equal((1000u, 1000u), (guest.Uid, guest.Gid));
        }

        // Files the host made as root are shown with the guest ids too.
        Assert.Equal(Errno.OK, LStat(Path.Combine(v, "inside.txt"), out var existing));
        Assert.Equal((1000u, 1000u), (existing.Uid, existing.Gid));
    }

    [Fact]
    public async Task Denials_AreAggregatedPerVmGrantAndOperation_OneRecordWithTheCountAndASample()
    {
        var a = fixture.NewArea("deny");
        await fixture.GrantAsync("deny", a, "ro");
        var v = Path.Combine(View("deny"), a);
        await Task.Delay(1200); // let the grant's own audit settle into an earlier interval

        for (var i = 0; i < 100; i++)
        {
            Assert.Equal(Errno.EACCES, TryOpen(Path.Combine(v, "inside.txt"), O_WRONLY));
        }

        for (var i = 0; i < 7; i++)
        {
            Assert.Equal(Errno.EACCES, Mkdir(Path.Combine(v, "made")));
        }

        // Ungranted names are ENOENT, which is not a refusal of anything the guest holds.
        for (var i = 0; i < 20; i++)
        {
            Assert.Equal(Errno.ENOENT, LStat(Path.Combine(View("deny"), $"{a}-private"), out _));
        }

        var denials = await fixture.DenialsAsync("deny");
        // Scoped by the grant the refused operation was under (the grant root), never by a path the
        // guest can make as long or as many as it likes; the name is the sample.
        var writes = denials.Where(r => r.Path == a && r.Detail!.StartsWith("open-write", StringComparison.Ordinal)).ToList();
        var mkdirs = denials.Where(r => r.Path == a && r.Detail!.StartsWith("mkdir", StringComparison.Ordinal)).ToList();

        // One record per (vm, scope, op) per interval; 100 quick attempts fit in one or, at worst,
        // straddle two intervals.
        Assert.InRange(writes.Count, 1, 2);
        Assert.Equal(100, writes.Sum(r => Count(r.Detail)));
        Assert.All(writes, r => Assert.StartsWith("open-write refused", r.Detail, StringComparison.Ordinal));
        Assert.All(writes, r => Assert.Equal("refused", r.Result));
        Assert.All(writes, r => Assert.EndsWith(", e.g. 'inside.txt'", r.Detail, StringComparison.Ordinal));
        Assert.InRange(mkdirs.Count, 1, 2);
        Assert.Equal(7, mkdirs.Sum(r => Count(r.Detail)));
        Assert.All(mkdirs, r => Assert.Equal("mkdir refused", r.Detail![..13]));
        Assert.All(mkdirs, r => Assert.EndsWith(", e.g. 'made'", r.Detail, StringComparison.Ordinal));
        Assert.DoesNotContain(denials, r => r.Path!.Contains("private", StringComparison.Ordinal));
        Assert.Empty(denials.Except(writes).Except(mkdirs));
        Assert.True((await fixture.Client.VerifyAuditAsync()).Ok);
    }

    private static int Count(string? detail)
    {
        var m = CountPattern().Match(detail ?? "");
        Assert.True(m.Success, detail);
        return int.Parse(m.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture);
    }

    [GeneratedRegex(@"refused (\d+) times? in the view")]
    private static partial Regex CountPattern();
}
