using System.Diagnostics;
using System.Text;
using Spectrum.Interop;
using static Spectrum.Broker.Tests.Views.ViewSecNative;

namespace Spectrum.Broker.Tests.Views;

/// <summary>
/// SECURITY-TESTS.md C (path escapes) on the real mount. This process plays the guest: what its
/// own kernel resolves ("..", "a//b", symlink targets) is the guest's business and stays inside
/// the mount wherever the mount has a say; what reaches the broker must never leave the grant on
/// the host. Every case ends by checking the host tree: nothing outside a grant read, made or changed.
/// </summary>
public sealed class ViewSecEscapeTests(ViewSecFixture fixture) : IClassFixture<ViewSecFixture>
{
    private string View(string vm) => fixture.View(vm);

    private string Host(string relative) => fixture.Host(relative);

    private static int OpenDir(string path)
    {
        Assert.Equal(Errno.OK, Open(path, O_PATH | O_DIRECTORY, out var fd));
        return fd;
    }

    [Fact]
    public async Task DotDot_AtAGrantRootAndAtTheViewRoot_DoesNotLeaveTheView()
    {
        var a = fixture.NewArea("dot");
        var b = fixture.NewArea("dot");
        await fixture.GrantAsync("dot", $"{a}/Work", "rw");
        await fixture.GrantAsync("dot", b, "rw");
        var v = View("dot");
        Assert.Equal(Errno.OK, StatPath(v, out var viewRoot));
        Assert.Equal(Errno.OK, StatPath(Path.Combine(v, a), out var synthesized));
        var root = OpenDir(v);
        var work = OpenDir(Path.Combine(v, a, "Work"));
        var grantRoot = OpenDir(Path.Combine(v, b));
        try
        {
            // ".." at a grant root is its parent in the view (synthesized or the view root), never the host's.
            Assert.Equal(Errno.OK, OpenAt(work, "..", O_PATH | O_DIRECTORY, 0, out var up));
            Assert.Equal(Errno.OK, FStat(up, out var upSt));
            Close(up);
            Assert.Equal((synthesized.Dev, synthesized.Ino), (upSt.Dev, upSt.Ino));
            Assert.Equal(Errno.OK, OpenAt(work, "../..", O_PATH | O_DIRECTORY, 0, out var upUp));
            Assert.Equal(Errno.OK, FStat(upUp, out var upUpSt));
            Close(upUp);
            Assert.Equal((viewRoot.Dev, viewRoot.Ino), (upUpSt.Dev, upUpSt.Ino));
            Assert.Equal(Errno.OK, OpenAt(grantRoot, "..", O_PATH | O_DIRECTORY, 0, out var bUp));
            Assert.Equal(Errno.OK, FStat(bUp, out var bUpSt));
            Close(bUp);
            Assert.Equal((viewRoot.Dev, viewRoot.Ino), (bUpSt.Dev, bUpSt.Ino));

            // ".." at the view root: the guest's own kernel leaves the mount for the mount point's
            // parent (here the runtime folder; in a VM, the guest's own directory), never a host
            // directory of the tree and never anything the view serves.
            Assert.Equal(Errno.OK, OpenAt(root, "..", O_PATH | O_DIRECTORY, 0, out var rootUp));
            Assert.Equal(Errno.OK, FStat(rootUp, out var rootUpSt));
            Close(rootUp);
            Assert.Equal(Errno.OK, StatPath(Path.GetDirectoryName(v)!, out var mountParent));
            Assert.Equal(Errno.OK, StatPath(fixture.Dirs.Tree, out var tree));
            Assert.Equal((mountParent.Dev, mountParent.Ino), (rootUpSt.Dev, rootUpSt.Ino));
            Assert.NotEqual(viewRoot.Dev, rootUpSt.Dev);
            Assert.NotEqual(tree.Ino, rootUpSt.Ino);
            Assert.Equal([a, b], List(v));

            // Lookups through ".." reach only what the view holds.
            foreach (var climb in (string[])["../inside.txt", "../../x", $"../../{a}-private/notes.txt", "../../.ssh/id_ed25519", $"../../{a}/inside.txt", "../Work/../../nope"])
            {
                Assert.Equal(Errno.ENOENT, OpenAt(work, climb, O_RDONLY, 0, out _));
            }

            Assert.Equal(Errno.ENOENT, OpenAt(grantRoot, $"../{a}-private/notes.txt", O_RDONLY, 0, out _));
            Assert.Equal(Errno.OK, OpenAt(work, "../Work/./notes.txt", O_RDONLY, 0, out var same));
            Close(same);

            // ... and so do the mutating operations: climbing lands in synthesized directories, which refuse.
            Assert.Equal(Errno.EACCES, MkdirAt(work, Z("../evil")));
            Assert.Equal(Errno.EACCES, MkdirAt(work, Z("../../evil")));
            Assert.Equal(Errno.EACCES, MkdirAt(grantRoot, Z("../evil")));
            Assert.Equal(Errno.EACCES, OpenAt(work, "../evil.txt", O_WRONLY | O_CREAT, 0x1A4, out _));
            Assert.Equal(Errno.EACCES, OpenAt(grantRoot, "../evil.txt", O_WRONLY | O_CREAT | O_EXCL, 0x1A4, out _));
            Assert.Equal(Errno.ENOENT, UnlinkAt(work, Z("../inside.txt")));
            Assert.Equal(Errno.ENOENT, UnlinkAt(work, Z($"../../{a}-private/notes.txt")));
            Assert.Equal(Errno.EACCES, UnlinkAt(grantRoot, Z($"../{a}"), directory: true));
        }
        finally
        {
            Close(root);
            Close(work);
            Close(grantRoot);
        }

        Assert.False(Directory.Exists(Host($"{a}/evil")));
        Assert.False(Directory.Exists(Host("evil")));
        Assert.False(File.Exists(Host("evil.txt")));
        Assert.False(File.Exists(Host($"{a}/evil.txt")));
        Assert.True(File.Exists(Host($"{a}/inside.txt")));
        Assert.True(File.Exists(Host($"{a}-private/notes.txt")));
    }

    [Fact]
    public async Task OddPaths_EmptyDoubleSlashAndTrailingSlash_GiveCleanAnswers()
    {
        var a = fixture.NewArea("odd");
        await fixture.GrantAsync("odd", a, "rw");
        var v = View("odd");
        var dir = OpenDir(Path.Combine(v, a));
        try
        {
            Assert.Equal(Errno.ENOENT, OpenAt(dir, "", O_RDONLY, 0, out _));
            Assert.Equal(Errno.OK, ReadFile(Path.Combine(v, a) + "//Work//notes.txt", out var text));
            Assert.Equal("notes\n", text);
            Assert.Equal(Errno.ENOTDIR, TryOpen(Path.Combine(v, a, "inside.txt") + "/", O_RDONLY));
            Assert.Equal(Errno.ENOTDIR, OpenAt(dir, "inside.txt/", O_RDONLY, 0, out _));
            Assert.NotEqual(Errno.OK, OpenAt(dir, "inside.txt/", O_WRONLY | O_CREAT, 0x1A4, out _));
            Assert.Equal(Errno.ENOTDIR, MkdirAt(dir, Z("inside.txt/x")));
            Assert.Equal(Errno.ENOTDIR, UnlinkAt(dir, Z("inside.txt/")));
            Assert.Equal(Errno.ENOTDIR, Rename2(Path.Combine(v, a, "inside.txt") + "/", Path.Combine(v, a, "moved.txt")));
            Assert.Equal(Errno.OK, MkdirAt(dir, Z("made//")));
            Assert.True(Directory.Exists(Host($"{a}/made")));
        }
        finally
        {
            Close(dir);
        }

        Assert.Equal("inside\n", File.ReadAllText(Host($"{a}/inside.txt")));
    }

    [Fact]
    public async Task SymlinksInTheTree_AreShownAsSymlinks_AndNeverFollowedOnTheHost()
    {
        var a = fixture.NewArea("lnk");
        var links = new Dictionary<string, string>
        {
            ["abs"] = "/etc/passwd",
            ["absdir"] = "/etc",
            ["up"] = $"../{a}-private/notes.txt",
            ["updir"] = $"../{a}-private",
            ["climb"] = "../../../../../../../../etc/shadow",
            ["chain1"] = "chain2",
            ["chain2"] = $"../{a}-private/notes.txt",
            ["loop1"] = "loop2",
            ["loop2"] = "loop1",
            ["selfroot"] = "/proc/self/root",
            ["selffd"] = "/proc/self/fd/0",
            ["hostpath"] = Host($"{a}-private/notes.txt"),
        };
        foreach (var (name, target) in links)
        {
            Assert.Equal(Errno.OK, Symlink(target, Host($"{a}/{name}")));
        }

        await fixture.GrantAsync("lnk", a, "rw");
        var v = Path.Combine(View("lnk"), a);

        Assert.Equal([.. links.Keys.Append("Work").Append("inside.txt").Order(StringComparer.Ordinal)], List(v));
        foreach (var (name, target) in links)
        {
            // The view's own lookups never follow: each is a symlink whose target is shown verbatim.
            Assert.Equal(Errno.OK, LStat(Path.Combine(v, name), out var st));
            Assert.Equal(S_IFLNK, st.Type);
            Assert.Equal((ulong)Encoding.UTF8.GetByteCount(target), st.Size);
            Assert.Equal(Errno.OK, ReadLink(Path.Combine(v, name), out var shown));
            Assert.Equal(target, shown);
        }

        // Relative targets resolve in the guest, inside its view, where the sibling is not granted.
        Assert.Equal(Errno.ENOENT, ReadFile(Path.Combine(v, "up"), out _));
        Assert.Equal(Errno.ENOENT, ReadFile(Path.Combine(v, "chain1"), out _));
        Assert.Equal(Errno.ENOENT, ReadFile(Path.Combine(v, "updir", "notes.txt"), out _));
        Assert.Equal(Errno.ELOOP, ReadFile(Path.Combine(v, "loop1"), out _));
        Assert.Equal(Errno.ENOENT, TryOpen(Path.Combine(v, "up"), O_WRONLY | O_CREAT));
        Assert.Equal(Errno.ENOENT, Truncate(Path.Combine(v, "chain1"), 0));
        Assert.Equal(Errno.ENOENT, Chmod(Path.Combine(v, "up"), 0x1FF));
        Assert.Equal(Errno.ENOENT, Mkdir(Path.Combine(v, "updir", "made")));
        Assert.Equal(Errno.ELOOP, TryOpen(Path.Combine(v, "abs"), O_RDONLY | O_NOFOLLOW));

        // Operations on the link itself act on the link, never on what it names.
        Assert.Equal(Errno.OK, Rename2(Path.Combine(v, "up"), Path.Combine(v, "up2")));
        Assert.Equal(Errno.OK, Unlink(Path.Combine(v, "up2")));
        Assert.Equal(Errno.OK, Link(Path.Combine(v, "chain2"), Path.Combine(v, "Work", "chain2-link")));
        Assert.Equal(Errno.OK, LStat(Host($"{a}/Work/chain2-link"), out var hardLinked));
        Assert.Equal(S_IFLNK, hardLinked.Type);

        Assert.Equal(["Work", "inside.txt", "notes.txt"], Directory.GetFileSystemEntries(Host($"{a}-private")).Select(Path.GetFileName).Order(StringComparer.Ordinal));
        Assert.Equal("SECRET\n", File.ReadAllText(Host($"{a}-private/notes.txt")));
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead, File.GetUnixFileMode(Host($"{a}-private/notes.txt")));
    }

    [Fact]
    public async Task GuestSymlinks_AbsoluteOrClimbing_AreStoredVerbatim_AndCreateThroughThemMakesNothingOutside()
    {
        var a = fixture.NewArea("gsym");
        await fixture.GrantAsync("gsym", a, "rw");
        var v = Path.Combine(View("gsym"), a);
        var outside = Host($"{a}-private/created.txt");

        Assert.Equal(Errno.OK, Symlink("/etc/passwd", Path.Combine(v, "evil")));
        Assert.Equal(Errno.OK, Symlink("../../../../../../etc", Path.Combine(v, "climb")));
        Assert.Equal(Errno.OK, Symlink($"../{a}-private/created.txt", Path.Combine(v, "dangling")));
        Assert.Equal(Errno.OK, Symlink(outside, Path.Combine(v, "dangling-abs")));

        foreach (var (name, target) in new[] { ("evil", "/etc/passwd"), ("climb", "../../../../../../etc"), ("dangling", $"../{a}-private/created.txt"), ("dangling-abs", outside) })
        {
            Assert.Equal(Errno.OK, ReadLink(Host($"{a}/{name}"), out var stored));
            Assert.Equal(target, stored);
            Assert.Equal(Errno.OK, ReadLink(Path.Combine(v, name), out var shown));
            Assert.Equal(target, shown);
            Assert.Equal(Errno.OK, LStat(Path.Combine(v, name), out var st));
            Assert.Equal(S_IFLNK, st.Type);
        }

        // O_CREAT through a dangling link: the guest resolves it in its view, where there is nothing to create in.
        Assert.Equal(Errno.ENOENT, TryOpen(Path.Combine(v, "dangling"), O_WRONLY | O_CREAT));
        Assert.Equal(Errno.ELOOP, TryOpen(Path.Combine(v, "dangling-abs"), O_WRONLY | O_CREAT | O_NOFOLLOW));
        Assert.Equal(Errno.EEXIST, TryOpen(Path.Combine(v, "dangling-abs"), O_WRONLY | O_CREAT | O_EXCL));

        // A link the host plants where the guest's kernel still believes nothing is: the create
        // reaches the broker, which opens with O_NOFOLLOW and so never creates through it.
        Assert.Equal(Errno.ENOENT, LStat(Path.Combine(v, "late"), out _));
        Assert.Equal(Errno.OK, Symlink(outside, Host($"{a}/late")));
        Assert.NotEqual(Errno.OK, TryOpen(Path.Combine(v, "late"), O_WRONLY | O_CREAT | O_NOFOLLOW));

        Assert.False(File.Exists(outside));
        Assert.Equal(Errno.OK, LStat(Host($"{a}/late"), out var late));
        Assert.Equal(S_IFLNK, late.Type);
        Assert.Equal(["Work", "inside.txt", "notes.txt"], Directory.GetFileSystemEntries(Host($"{a}-private")).Select(Path.GetFileName).Order(StringComparer.Ordinal));
    }

    [Fact]
    public async Task MountPointsInsideAGrant_AreNotCrossed()
    {
        var a = fixture.NewArea("mnt");
        Directory.CreateDirectory(Host($"{a}/etc"));
        Mount("--bind", Host($"{a}-private"), Host($"{a}/Work"));
        Mount("--bind", "/etc", Host($"{a}/etc"));
        try
        {
            await fixture.GrantAsync("mnt", a, "rw");
            var v = Path.Combine(View("mnt"), a);

            Assert.Equal(Errno.OK, ReadFile(Path.Combine(v, "inside.txt"), out var inside));
            Assert.Equal("inside\n", inside);
            Assert.Equal(Errno.ENOENT, LStat(Path.Combine(v, "Work"), out _));
            Assert.Equal(Errno.ENOENT, ReadFile(Path.Combine(v, "Work", "notes.txt"), out _));
            Assert.Equal(Errno.ENOENT, LStat(Path.Combine(v, "etc", "passwd"), out _));
            Assert.Equal(Errno.ENOENT, TryOpen(Path.Combine(v, "Work", "new.txt"), O_WRONLY | O_CREAT));
            Assert.Equal(Errno.ENOENT, Mkdir(Path.Combine(v, "etc", "made")));
            // Listings leave mount points out, whether the kernel asks READDIR or READDIRPLUS
            // (ViewListingTests compares both).
            Assert.Equal(["inside.txt"], List(v));
        }
        finally
        {
            Umount(Host($"{a}/Work"));
            Umount(Host($"{a}/etc"));
        }

        Assert.False(File.Exists(Host($"{a}-private/new.txt")));
    }

    [Fact]
    public async Task DevicesFifosAndSockets_AreNeverOpenedOnTheHost_AndNeverBlock()
    {
        var a = fixture.NewArea("dev");
        Assert.Equal(Errno.OK, Mknod(Host($"{a}/fifo"), S_IFIFO | 0x1B6));
        Assert.Equal(Errno.OK, Mknod(Host($"{a}/null"), S_IFCHR | 0x1B6, (1UL << 8) | 3));
        Assert.Equal(Errno.OK, Mknod(Host($"{a}/zero"), S_IFCHR | 0x1B6, (1UL << 8) | 5));
        Assert.Equal(Errno.OK, Mknod(Host($"{a}/sock"), S_IFSOCK | 0x1B6));
        await fixture.GrantAsync("dev", a, "rw");
        var v = Path.Combine(View("dev"), a);

        foreach (var (name, flags) in new[] { ("fifo", O_RDONLY), ("fifo", O_WRONLY), ("fifo", O_RDWR), ("null", O_RDWR), ("zero", O_RDONLY), ("sock", O_RDONLY) })
        {
            var path = Path.Combine(v, name);
            var open = Task.Run(() => TryOpen(path, flags));
            var finished = await Task.WhenAny(open, Task.Delay(TimeSpan.FromSeconds(3))) == open;
            if (!finished)
            {
                // Release the blocked open (the other end of the guest-side pipe) before failing.
                TryOpen(path, (flags == O_RDONLY ? O_WRONLY : O_RDONLY) | O_NONBLOCK);
                await open;
            }

            Assert.True(finished, $"opening {name} with flags {flags} blocked");
            Assert.NotEqual(Errno.OK, await open);
        }

        // Truncating one would reopen it for writing on the host: refused, without blocking.
        var truncate = Task.Run(() => Truncate(Path.Combine(v, "fifo"), 0));
        Assert.True(await Task.WhenAny(truncate, Task.Delay(TimeSpan.FromSeconds(3))) == truncate, "truncating the fifo blocked");
        Assert.NotEqual(Errno.OK, await truncate);
        Assert.NotEqual(Errno.OK, Truncate(Path.Combine(v, "null"), 0));

        // Nothing was written into a device, and they are still what they were.
        Assert.Equal(Errno.OK, LStat(Host($"{a}/null"), out var dev));
        Assert.Equal(S_IFCHR, dev.Type);
    }

    [Fact]
    public async Task LongAndNonUtf8Names_GiveCleanAnswers()
    {
        var a = fixture.NewArea("names");
        byte[] e9 = [.. "caf"u8, 0xE9, .. ".txt"u8];
        byte[] e8 = [.. "caf"u8, 0xE8, .. ".txt"u8];
        WriteHostRaw(Host(a), e9, "latin1 e9\n");
        WriteHostRaw(Host(a), e8, "latin1 e8\n");
        await fixture.GrantAsync("names", a, "rw");
        var v = Path.Combine(View("names"), a);

        // NAME_MAX and PATH_MAX.
        Assert.Equal(Errno.OK, TryOpen(Path.Combine(v, new string('n', 255)), O_WRONLY | O_CREAT));
        Assert.True(File.Exists(Host($"{a}/{new string('n', 255)}")));
        Assert.Equal(Errno.ENAMETOOLONG, TryOpen(Path.Combine(v, new string('n', 256)), O_WRONLY | O_CREAT));
        Assert.Equal(Errno.ENAMETOOLONG, LStat(Path.Combine(v, new string('n', 300)), out _));
        Assert.Equal(Errno.ENAMETOOLONG, Mkdir(Path.Combine(v, new string('d', 256))));
        Assert.Equal(Errno.ENAMETOOLONG, LStat(v + string.Concat(Enumerable.Repeat("/Work/..", 600)) + "/inside.txt", out _));

        // Names that are not UTF-8: listed byte for byte, each opens its own file (no two collapse
        // into one by a lossy decoding), and the guest can make and remove such names.
        Assert.Equal(Errno.OK, ListRaw(v, out var names));
        Assert.Contains(names, n => n.AsSpan().SequenceEqual(e9));
        Assert.Contains(names, n => n.AsSpan().SequenceEqual(e8));
        var dir = OpenDir(v);
        try
        {
            for (var round = 0; round < 2; round++)
            {
                foreach (var (name, text) in new[] { (e9, "latin1 e9\n"), (e8, "latin1 e8\n") })
                {
                    Assert.Equal(Errno.OK, OpenAt(dir, Z(name), O_RDONLY, 0, out var fd));
                    Assert.Equal(Errno.OK, ReadText(fd, out var read));
                    Close(fd);
                    Assert.Equal(text, read);
                }
            }

            byte[] made = [.. "made"u8, 0xFF, 0xFE];
            Assert.Equal(Errno.OK, OpenAt(dir, Z(made), O_WRONLY | O_CREAT | O_EXCL, 0x1A4, out var created));
            Close(created);
            Assert.Equal(Errno.OK, ListRaw(Host(a), out var hostNames));
            Assert.Contains(hostNames, n => n.AsSpan().SequenceEqual(made));
            Assert.Equal(Errno.OK, UnlinkAt(dir, Z(made)));
            Assert.Equal(Errno.OK, UnlinkAt(dir, Z(e8)));
            Assert.Equal(Errno.OK, OpenAt(dir, Z(e9), O_RDONLY, 0, out var still));
            Close(still);
        }
        finally
        {
            Close(dir);
        }

        Assert.Equal(Errno.OK, ListRaw(Host(a), out var after));
        Assert.Contains(after, n => n.AsSpan().SequenceEqual(e9));
        Assert.DoesNotContain(after, n => n.AsSpan().SequenceEqual(e8));

        // .NET cannot delete a name that is not UTF-8 (TestDirs would leave the folder behind).
        Assert.Equal(Errno.OK, Open(Host(a), O_PATH | O_DIRECTORY, out var hostDir));
        Assert.Equal(Errno.OK, UnlinkAt(hostDir, Z(e9)));
        Close(hostDir);
    }

    private static void WriteHostRaw(string dir, byte[] name, string text)
    {
        Assert.Equal(Errno.OK, Open(dir, O_PATH | O_DIRECTORY, out var d));
        try
        {
            Assert.Equal(Errno.OK, OpenAt(d, Z(name), O_WRONLY | O_CREAT | O_EXCL, 0x1A4, out var fd));
            Assert.Equal(Errno.OK, PWrite(fd, Encoding.UTF8.GetBytes(text), 0));
            Close(fd);
        }
        finally
        {
            Close(d);
        }
    }

    private static void Mount(params string[] args)
    {
        using var p = Process.Start("mount", args);
        p.WaitForExit();
        Assert.Equal(0, p.ExitCode);
    }

    private static void Umount(string path)
    {
        using var p = Process.Start("umount", ["-l", path]);
        p.WaitForExit();
    }
}
