using System.Diagnostics;
using Spectrum.Broker.Views;
using Spectrum.Capabilities;
using Spectrum.FuseFs;
using Spectrum.Interop;
using static Spectrum.Broker.Tests.Views.ViewSecNative;

namespace Spectrum.Broker.Tests.Views;

/// <summary>
/// READDIR and READDIRPLUS list the same thing. The same grants are served by two real mounts of
/// the view filesystem: one where the kernel only ever sends READDIR, one where it only ever sends
/// READDIRPLUS (no READDIRPLUS_AUTO). With AUTO, as in production, the kernel mixes both within one
/// listing (READDIRPLUS for the first request, READDIR for the rest unless the names are being
/// looked up), so the two must agree entry for entry: names, order, cookies, inode numbers and types,
/// in synthesized ancestors, in granted directories, and around a mount point inside a grant.
/// </summary>
public sealed class ViewListingTests : IDisposable
{
    private const int FileCount = 300;

    private readonly TestDirs _dirs = new();
    private readonly SafeFd _tree;
    private readonly List<FuseSession> _sessions = [];
    private readonly string _bindMount;
    private int _grants;

    public ViewListingTests()
    {
        // A: a read-write directory grant holding many files, a subdirectory, a symlink, a FIFO, a
        // nested read-only grant N and a bind mount at "mnt"; S: synthesized, leading to a file
        // grant (S/T/file.txt), a directory grant (S/U) and a deeper one (S/V/W).
        for (var i = 0; i < FileCount; i++)
        {
            _dirs.Write($"A/f{i:D3}-{new string('x', i % 40)}", "x");
        }

        _dirs.Write("A/sub/inner.txt", "inner\n");
        _dirs.Write("A/N/nested.txt", "nested\n");
        _dirs.Write("B-private/secret.txt", "SECRET\n");
        _dirs.Write("S/T/file.txt", "file\n");
        _dirs.Write("S/T/other.txt", "other\n");
        _dirs.Write("S/U/u.txt", "u\n");
        _dirs.Write("S/V/W/w.txt", "w\n");
        File.CreateSymbolicLink(Path.Combine(_dirs.Tree, "A", "link"), "f000");
        Assert.Equal(Errno.OK, Mknod(Path.Combine(_dirs.Tree, "A", "fifo"), S_IFIFO | 0x1A4));
        _bindMount = Path.Combine(_dirs.Tree, "A", "mnt");
        Directory.CreateDirectory(_bindMount);
        Run("mount", "--bind", Path.Combine(_dirs.Tree, "B-private"), _bindMount);

        _tree = Files.OpenDirectoryPath(_dirs.Tree);
        try
        {
            var grants = GrantTable.Compile(
            [
                Grant("A", Rights.ReadWrite),
                Grant("A/N", Rights.ReadOnly),
                Grant("S/T/file.txt", Rights.ReadWrite),
                Grant("S/U", Rights.ReadOnly),
                Grant("S/V/W", Rights.ReadOnly),
            ]);
            Mount("plain", grants, new FuseSessionOptions { ReaddirPlus = false });
            Mount("plus", grants, new FuseSessionOptions { ReaddirPlus = true, ReaddirPlusAuto = false });
        }
        catch
        {
            Dispose(); // xunit does not dispose a test class whose constructor threw
            throw;
        }
    }

    public void Dispose()
    {
        foreach (var session in _sessions)
        {
            session.Dispose();
        }

        Run("umount", "-l", _bindMount);
        _tree.Dispose();
        _dirs.Dispose();
    }

    private string Plain => Path.Combine(_dirs.Run, "plain");

    private string Plus => Path.Combine(_dirs.Run, "plus");

    [Theory]
    [InlineData("")]
    [InlineData("S")]
    [InlineData("S/T")]
    [InlineData("S/V")]
    [InlineData("A")]
    [InlineData("A/N")]
    [InlineData("A/sub")]
    public void Listing_ReaddirAndReaddirPlus_AgreeEntryForEntry_AndEveryEntryIsWhatALookupFinds(string dir)
    {
        var plain = Listing(Path.Combine(Plain, dir), 32768);
        var plus = Listing(Path.Combine(Plus, dir), 32768);
        Assert.Equal(plain, plus);

        // A small buffer makes the kernel resume from cookies all along: the same listing.
        Assert.Equal(plain, Listing(Path.Combine(Plain, dir), 512));
        Assert.Equal(plus, Listing(Path.Combine(Plus, dir), 512));

        foreach (var root in (string[])[Plain, Plus])
        {
            var path = Path.Combine(root, dir);
            Assert.Equal(Errno.OK, LStat(path, out var self));
            Assert.Equal(self.Ino, Assert.Single(plain, e => e.Name == ".").Ino);
            if (dir.Length > 0)
            {
                // ".." is the view's parent, as a lookup of ".." shows it: never the host's.
                Assert.Equal(Errno.OK, LStat(Path.Combine(path, ".."), out var parent));
                Assert.Equal(parent.Ino, Assert.Single(plain, e => e.Name == "..").Ino);
            }

            foreach (var e in plain.Where(e => e.Name is not ("." or "..")))
            {
                Assert.True(LStat(Path.Combine(path, e.Name), out var st) == Errno.OK, $"{dir}/{e.Name} is listed but cannot be looked up");
                Assert.True(st.Ino == e.Ino, $"{dir}/{e.Name}: d_ino {e.Ino}, st_ino {st.Ino}");
                Assert.True(st.Type >> 12 == e.Type, $"{dir}/{e.Name}: d_type {e.Type}, st_mode type {st.Type >> 12}");
            }
        }
    }

    [Fact]
    public void Listing_SynthesizedAncestors_ListExactlyWhatLeadsToGrants()
    {
        foreach (var root in (string[])[Plain, Plus])
        {
            Assert.Equal(["A", "S"], Names(root, ""));
            Assert.Equal(["T", "U", "V"], Names(root, "S"));
            Assert.Equal(["file.txt"], Names(root, "S/T"));
            Assert.Equal(["W"], Names(root, "S/V"));
        }
    }

    [Fact]
    public void Listing_AMountPointInsideAGrant_IsListedByNeither()
    {
        foreach (var root in (string[])[Plain, Plus])
        {
            var names = Names(root, "A");
            Assert.DoesNotContain("mnt", names);
            Assert.Contains("sub", names);
            Assert.Contains("N", names);
            Assert.Contains("fifo", names);
            Assert.Contains("link", names);
            Assert.Equal(FileCount + 4, names.Count); // the files, sub, N, fifo and link
            Assert.Equal(Errno.ENOENT, LStat(Path.Combine(root, "A", "mnt"), out _));
        }
    }

    [Fact]
    public void Listing_SeekdirToAnyCookie_ResumesRightAfterThatEntry_OnBothMounts()
    {
        foreach (var dir in (string[])["", "S", "A"])
        {
            foreach (var root in (string[])[Plain, Plus])
            {
                var path = Path.Combine(root, dir);
                var all = Listing(path, 32768);
                for (var i = 0; i < all.Count; i += Math.Max(1, all.Count / 40))
                {
                    Assert.Equal(Errno.OK, Open(path, O_RDONLY | O_DIRECTORY, out var fd));
                    try
                    {
                        Assert.Equal(Errno.OK, SeekSet(fd, all[i].Offset));
                        Assert.Equal(Errno.OK, ReadEntries(fd, 4096, out var rest));
                        Assert.Equal(all.Skip(i + 1), rest);
                    }
                    finally
                    {
                        Close(fd);
                    }
                }
            }
        }
    }

    private static List<DirEntry> Listing(string path, int bufferSize)
    {
        Assert.Equal(Errno.OK, Open(path, O_RDONLY | O_DIRECTORY, out var fd));
        try
        {
            Assert.Equal(Errno.OK, ReadEntries(fd, bufferSize, out var entries));
            return entries;
        }
        finally
        {
            Close(fd);
        }
    }

    private static List<string> Names(string root, string dir) =>
        [.. Listing(Path.Combine(root, dir), 32768).Select(e => e.Name).Where(n => n is not ("." or "..")).Order(StringComparer.Ordinal)];

    private ViewGrant Grant(string path, Rights rights)
    {
        using var fd = Files.OpenBeneath(_tree, path);
        var isDirectory = Files.Stat(fd).IsDirectory;
        FileIdentity? parent = null;
        if (!isDirectory)
        {
            using var dir = Files.OpenBeneath(_tree, path[..path.LastIndexOf('/')]);
            parent = Files.Identify(dir);
        }

        return new ViewGrant($"g{++_grants}", TreePath.Parse(path), isDirectory, rights, Files.Identify(fd), null, parent);
    }

    private void Mount(string name, GrantTable grants, FuseSessionOptions options)
    {
        var mountPoint = Path.Combine(_dirs.Run, name);
        Directory.CreateDirectory(mountPoint);
        var fs = new ViewFileSystem(name, new Host(_tree), new ViewSettings(1000, 1000, Passthrough: false));
        fs.Install(grants);
        var session = new FuseSession(fs, options);
        session.Mount(mountPoint, new FuseMountOptions { Name = "spectrum-test" });
        _sessions.Add(session);
        Assert.True(session.Initialized.Wait(TimeSpan.FromSeconds(10)));
    }

    private static void Run(string program, params string[] args)
    {
        using var p = Process.Start(program, args);
        p.WaitForExit();
        Assert.Equal(0, p.ExitCode);
    }

    /// <summary>What the view needs from the broker: the tree, and nowhere to report to.</summary>
    private sealed class Host(SafeFd tree) : IViewHost
    {
        public TreeRootInfo Tree { get; } = new(tree, 0, 0);

        public void Denied(string vm, string op, string scope, ReadOnlySpan<byte> sample)
        {
        }

        public void Stale(string vm, ViewGrant grant, string reason) => grant.End();
    }
}
