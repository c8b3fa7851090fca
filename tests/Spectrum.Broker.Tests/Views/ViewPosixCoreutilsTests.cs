using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
using Spectrum.Interop;
using static Spectrum.Broker.Tests.Views.ViewPosixNative;

namespace Spectrum.Broker.Tests.Views;

/// <summary>
/// One real daemon for the coreutils tests: VM "editor" holds a read-write grant on the directory
/// <c>Scratch</c>, declared by policy. <see cref="BrokerUmask"/>, when set, is the umask the daemon
/// is started under (through <c>sh -c 'umask …; exec broker'</c>), so that what a guest creates is
/// seen not to depend on the broker's own umask.
/// </summary>
public abstract class ViewPosixCoreutilsFixtureBase : IAsyncLifetime
{
    public TestDirs Dirs { get; } = new();

    public BrokerProcess Broker { get; private set; } = null!;

    /// <summary>The umask the daemon runs under, or null for the test process's own.</summary>
    protected abstract string? BrokerUmask { get; }

    public string View(string vm) => Path.Combine(Dirs.Run, "vm", vm, "view");

    public async Task InitializeAsync()
    {
        Directory.CreateDirectory(Path.Combine(Dirs.Tree, "Scratch"));
        Dirs.Policy("editor", "[[grant]]\npath = \"Scratch\"\nrights = \"rw\"\n");
        var info = BrokerProcess.StartInfo(Dirs);
        if (BrokerUmask is { } umask)
        {
            var wrapped = new ProcessStartInfo("/bin/sh")
            {
                RedirectStandardOutput = true,
                RedirectStandardError = true,
                UseShellExecute = false,
            };
            foreach (var arg in (string[])["-c", $"umask {umask} && exec \"$0\" \"$@\"", info.FileName, .. info.ArgumentList])
            {
                wrapped.ArgumentList.Add(arg);
            }

            wrapped.Environment.Clear();
            foreach (var (key, value) in info.Environment)
            {
                wrapped.Environment[key] = value;
            }

            info = wrapped;
        }

        Broker = await BrokerProcess.StartAsync(Dirs, info);
        await WaitForMountAsync(View("editor"), TimeSpan.FromSeconds(10));
        if (BrokerUmask is { } expected)
        {
            // The wrapper worked: the daemon itself runs under that umask.
            var line = File.ReadLines($"/proc/{Broker.Pid}/status").Single(l => l.StartsWith("Umask:", StringComparison.Ordinal));
            Assert.Equal(Convert.ToInt32(expected, 8), Convert.ToInt32(line["Umask:".Length..].Trim(), 8));
        }
    }

    public async Task DisposeAsync()
    {
        try
        {
            await Broker.StopAsync();
        }
        finally
        {
            await Broker.DisposeAsync();
            Dirs.Dispose();
        }
    }
}

/// <summary>The daemon under the test process's umask.</summary>
public sealed class ViewPosixCoreutilsFixture : ViewPosixCoreutilsFixtureBase
{
    protected override string? BrokerUmask => null;
}

/// <summary>The daemon under umask 077 (what it sets for its own database files).</summary>
public sealed class ViewPosixCoreutilsUmask077Fixture : ViewPosixCoreutilsFixtureBase
{
    protected override string? BrokerUmask => "077";
}

public sealed class ViewPosixCoreutilsTests(ViewPosixCoreutilsFixture fixture)
    : ViewPosixCoreutilsTestsBase(fixture), IClassFixture<ViewPosixCoreutilsFixture>;

public sealed class ViewPosixCoreutilsUmask077Tests(ViewPosixCoreutilsUmask077Fixture fixture)
    : ViewPosixCoreutilsTestsBase(fixture), IClassFixture<ViewPosixCoreutilsUmask077Fixture>;

/// <summary>
/// The real coreutils (sh, touch, mkdir, install, cp, mv, tar) run as root on the real mount, in
/// a read-write directory grant, against the same commands on a native directory: modes, umask,
/// times, ownership the guest already sees, ACL and non-user xattrs.
/// </summary>
public abstract partial class ViewPosixCoreutilsTestsBase(ViewPosixCoreutilsFixtureBase fixture)
{
    private TestDirs Dirs => fixture.Dirs;

    /// <summary>A fresh directory for one test, made through the view: (view path, host path).</summary>
    private (string View, string Host) NewDir(string name)
    {
        var view = Path.Combine(fixture.View("editor"), "Scratch", name);
        Assert.Equal(Errno.OK, Check(mkdir(view, 0x1ED)));
        Assert.Equal(Errno.OK, Check(chmod(view, 0x1ED)));
        return (view, Path.Combine(Dirs.Tree, "Scratch", name));
    }

    /// <summary>A fresh native directory outside the tree (same filesystem as the tree).</summary>
    private string NativeDir(string name)
    {
        var path = Path.Combine(Dirs.Root, "native", name);
        Directory.CreateDirectory(path);
        Assert.Equal(Errno.OK, Check(chmod(path, 0x1ED)));
        return path;
    }

    /// <summary>The uid and gid the view shows on everything (broker.toml [guest]).</summary>
    private (uint Uid, uint Gid) Guest()
    {
        Assert.Equal(Errno.OK, Lstat(Path.Combine(fixture.View("editor"), "Scratch"), out var st));
        return (st.Uid, st.Gid);
    }

    private static Statx StatOrFail(string path)
    {
        Assert.Equal(Errno.OK, Lstat(path, out var st));
        return st;
    }

    private static uint Perms(string path) => StatOrFail(path).Mode & 0xFFFu;

    private static (int ExitCode, string Error) Sh(string script, params string[] arguments) =>
        Run("/bin/sh", ["-c", script, "sh", .. arguments]);

    [Theory]
    [InlineData("000")]
    [InlineData("002")]
    [InlineData("022")]
    [InlineData("077")]
    public void Umask_OfTheCreatingShell_GivesTheSameModesAsOnANativeDirectory(string umask)
    {
        var (view, host) = NewDir($"umask{umask}");
        var native = NativeDir($"umask{umask}");
        const string Script = "cd \"$1\" && umask \"$2\" && touch f && mkdir d && : > g && mkdir -p p/q";

        foreach (var dir in new[] { view, native })
        {
            var (exit, error) = Sh(Script, dir, umask);
            Assert.True(exit == 0, $"sh in {dir}: {error}");
        }

        foreach (var name in new[] { "f", "d", "g", "p", "p/q" })
        {
            var expected = Perms(Path.Combine(native, name));
            Assert.Equal((name, Convert.ToString(expected, 8)), (name, Convert.ToString(Perms(Path.Combine(host, name)), 8)));
            Assert.Equal((name, Convert.ToString(expected, 8)), (name, Convert.ToString(Perms(Path.Combine(view, name)), 8)));
        }
    }

    [Fact]
    public void Install_WithAMode_ExitsZeroAndSetsThatMode()
    {
        var (view, host) = NewDir("install");
        var native = NativeDir("install");
        var source = Path.Combine(native, "tool");
        File.WriteAllText(source, "#!/bin/sh\necho tool\n");
        Assert.Equal(Errno.OK, Check(chmod(source, 0x180 /* 0600 */)));

        var (exit, error) = Run("install", "-m", "0755", source, Path.Combine(view, "tool"));

        Assert.True(exit == 0, $"install exited {exit}: {error}");
        Assert.Equal("", error);
        Assert.Equal("755", Convert.ToString(Perms(Path.Combine(host, "tool")), 8));
        Assert.Equal("755", Convert.ToString(Perms(Path.Combine(view, "tool")), 8));
        Assert.Equal("#!/bin/sh\necho tool\n", File.ReadAllText(Path.Combine(host, "tool")));
    }

    [Fact]
    public void CpPreserve_IntoTheView_ExitsZeroAndKeepsModeAndTimes()
    {
        var (view, host) = NewDir("cpp");
        var native = NativeDir("cpp");
        var guest = Guest();
        var source = Path.Combine(native, "doc.txt");
        File.WriteAllText(source, "document\n");
        Assert.Equal(Errno.OK, Check(chmod(source, 0x1A0 /* 0640 */)));
        Assert.Equal(Errno.OK, UtimeNs(source, new Timespec { Sec = 1_500_000_000, Nsec = 123_456_789 }, new Timespec { Sec = 1_600_000_000, Nsec = 987_654_321 }));
        // What a guest copies is its own: owned by the uid/gid the view shows.
        Assert.Equal(Errno.OK, Check(chown(source, guest.Uid, guest.Gid)));

        var (exit, error) = Run("cp", "-p", source, Path.Combine(view, "doc.txt"));

        Assert.True(exit == 0, $"cp -p exited {exit}: {error}");
        Assert.Equal("", error);
        var copied = StatOrFail(Path.Combine(host, "doc.txt"));
        Assert.Equal("640", Convert.ToString(copied.Mode & 0xFFFu, 8));
        Assert.Equal((1_600_000_000L, 987_654_321u), (copied.Mtime.Sec, copied.Mtime.Nsec));
        Assert.Equal((1_500_000_000L, 123_456_789u), (copied.Atime.Sec, copied.Atime.Nsec));
    }

    [Fact]
    public void Mv_FromANativeDirectoryIntoTheView_PrintsNoWarningAndKeepsModeAndTimes()
    {
        var (view, host) = NewDir("mv");
        var native = NativeDir("mv");
        var guest = Guest();
        var source = Path.Combine(native, "moved.txt");
        File.WriteAllText(source, "moved\n");
        Assert.Equal(Errno.OK, Check(chmod(source, 0x1E4 /* 0744 */)));
        Assert.Equal(Errno.OK, UtimeNs(source, new Timespec { Sec = 1_400_000_000 }, new Timespec { Sec = 1_400_000_001, Nsec = 5 }));
        Assert.Equal(Errno.OK, Check(chown(source, guest.Uid, guest.Gid)));

        // Another filesystem: mv copies (data, mode, times, owner, ACL, xattrs) and removes the source.
        var (exit, error) = Run("mv", source, Path.Combine(view, "moved.txt"));

        Assert.True(exit == 0, $"mv exited {exit}: {error}");
        Assert.Equal("", error);
        Assert.False(File.Exists(source));
        var moved = StatOrFail(Path.Combine(host, "moved.txt"));
        Assert.Equal("744", Convert.ToString(moved.Mode & 0xFFFu, 8));
        Assert.Equal((1_400_000_001L, 5u), (moved.Mtime.Sec, moved.Mtime.Nsec));
        Assert.Equal("moved\n", File.ReadAllText(Path.Combine(host, "moved.txt")));
    }

    [Fact]
    public void AclXattrs_AnswerNotSupported_SoProgramsFallBackToTheModeBits()
    {
        var (view, _) = NewDir("acl");
        var file = Path.Combine(view, "f.txt");
        File.WriteAllText(file, "x");
        // A valid access ACL (version 2: user::rw- group::r-- other::r--), as setfacl would send.
        byte[] acl =
        [
            2, 0, 0, 0,
            0x01, 0, 6, 0, 0xFF, 0xFF, 0xFF, 0xFF,
            0x04, 0, 4, 0, 0xFF, 0xFF, 0xFF, 0xFF,
            0x20, 0, 4, 0, 0xFF, 0xFF, 0xFF, 0xFF,
        ];

        foreach (var (path, name) in new[] { (file, "system.posix_acl_access"), (view, "system.posix_acl_access"), (view, "system.posix_acl_default") })
        {
            Assert.Equal((name, Errno.EOPNOTSUPP), (name, SetXattrBytes(path, name, acl)));
            Assert.Equal((name, Errno.EOPNOTSUPP), (name, GetXattrSize(path, name, out _)));
            Assert.Equal((name, Errno.EOPNOTSUPP), (name, RemoveXattr(path, name)));
        }
    }

    [Fact]
    public void NonUserXattrsSetOnTheHost_AreNotListedAndReadAsAbsent()
    {
        var (view, host) = NewDir("xattrhide");
        File.WriteAllText(Path.Combine(host, "f.txt"), "x");
        foreach (var path in new[] { Path.Combine(host, "f.txt"), host })
        {
            Assert.Equal(Errno.OK, SetXattr(path, "trusted.spectrum", "host secret", 0));
            Assert.Equal(Errno.OK, SetXattr(path, "security.spectrum", "host label", 0));
            Assert.Equal(Errno.OK, SetXattr(path, "user.visible", "shown", 0));
            Assert.Contains("trusted.spectrum", ListXattr(path, out _));
        }

        foreach (var path in new[] { Path.Combine(view, "f.txt"), view })
        {
            Assert.Equal(["user.visible"], ListXattr(path, out var e));
            Assert.Equal(Errno.OK, e);
            // The size a listxattr(…, 0) answers is that of the list it then gets: "user.visible\0".
            Assert.Equal(Errno.OK, ListXattrSize(path, out var size));
            Assert.Equal("user.visible\0".Length, size);
            Assert.Equal("shown", GetXattr(path, "user.visible", out _));
            foreach (var hidden in new[] { "trusted.spectrum", "security.spectrum" })
            {
                Assert.Null(GetXattr(path, hidden, out var absent));
                Assert.Equal((hidden, Errno.ENODATA), (hidden, absent));
                Assert.Equal((hidden, Errno.ENODATA), (hidden, GetXattrSize(path, hidden, out _)));
            }
        }

        // And the guest cannot set or remove them (the host's stay as they are).
        var viewFile = Path.Combine(view, "f.txt");
        Assert.NotEqual(Errno.OK, SetXattr(viewFile, "trusted.spectrum", "guest", 0));
        Assert.NotEqual(Errno.OK, RemoveXattr(viewFile, "security.spectrum"));
        Assert.Equal("host secret", GetXattr(Path.Combine(host, "f.txt"), "trusted.spectrum", out _));
        Assert.Equal("host label", GetXattr(Path.Combine(host, "f.txt"), "security.spectrum", out _));
    }

    [Fact]
    public void Chown_ToTheOwnerTheGuestSees_IsANoOpAndAnyOtherOwnerIsRefused()
    {
        var (view, host) = NewDir("chown");
        var guest = Guest();
        var file = Path.Combine(view, "f.txt");
        File.WriteAllText(file, "x");
        var hostOwner = StatOrFail(Path.Combine(host, "f.txt"));

        Assert.Equal(Errno.OK, Check(chown(file, guest.Uid, guest.Gid)));
        Assert.Equal(Errno.OK, Check(chown(file, guest.Uid, uint.MaxValue)));
        Assert.Equal(Errno.OK, Check(chown(file, uint.MaxValue, guest.Gid)));
        Assert.Equal(Errno.OK, Check(chown(view, guest.Uid, guest.Gid)));
        Assert.Equal(Errno.EPERM, Check(chown(file, guest.Uid + 1, uint.MaxValue)));
        Assert.Equal(Errno.EPERM, Check(chown(file, uint.MaxValue, guest.Gid + 1)));
        Assert.Equal(Errno.EPERM, Check(chown(file, 0, 0)));

        var after = StatOrFail(Path.Combine(host, "f.txt"));
        Assert.Equal((hostOwner.Uid, hostOwner.Gid), (after.Uid, after.Gid));
        var seen = StatOrFail(file);
        Assert.Equal(guest, (seen.Uid, seen.Gid));
    }

    [Fact]
    public void StickyBit_OnADirectory_IsSetAndShownButSetuidSetgidAndStickyOnFilesAreRefused()
    {
        var (view, host) = NewDir("sticky");
        var dir = Path.Combine(view, "shared");
        Assert.Equal(Errno.OK, Check(mkdir(dir, 0x1FF)));
        var file = Path.Combine(view, "f.txt");
        File.WriteAllText(file, "x");
        Assert.Equal(Errno.OK, Check(chmod(file, 0x1A4)));

        Assert.Equal(Errno.OK, Check(chmod(dir, 0x3FF /* 01777 */)));
        Assert.Equal("1777", Convert.ToString(Perms(Path.Combine(host, "shared")), 8));
        Assert.Equal("1777", Convert.ToString(Perms(dir), 8));
        var (exit, error) = Run("chmod", "-t", dir);
        Assert.True(exit == 0, error);
        Assert.Equal("777", Convert.ToString(Perms(Path.Combine(host, "shared")), 8));
        (exit, error) = Run("chmod", "+t", dir);
        Assert.True(exit == 0, error);
        Assert.Equal("1777", Convert.ToString(Perms(dir), 8));

        Assert.Equal(Errno.EPERM, Check(chmod(dir, 0xDFF /* 06777 */)));
        Assert.Equal(Errno.EPERM, Check(chmod(file, 0x9A4 /* 04644 */)));
        Assert.Equal(Errno.EPERM, Check(chmod(file, 0x5A4 /* 02644 */)));
        Assert.Equal(Errno.EPERM, Check(chmod(file, 0x3A4 /* 01644 */)));
        Assert.Equal("644", Convert.ToString(Perms(Path.Combine(host, "f.txt")), 8));
        Assert.Equal("1777", Convert.ToString(Perms(Path.Combine(host, "shared")), 8));
    }

    /// <summary>A small native tree, owned by the uid/gid the guest sees: files 0644/0755, a 0750 subdir with a 0600 file, a symlink; old times.</summary>
    private string NativeTree(string name)
    {
        var root = NativeDir(name);
        var guest = Guest();
        File.WriteAllText(Path.Combine(root, "a.txt"), "a\n");
        File.WriteAllText(Path.Combine(root, "run.sh"), "#!/bin/sh\n");
        Directory.CreateDirectory(Path.Combine(root, "sub"));
        File.WriteAllText(Path.Combine(root, "sub", "b.txt"), "b\n");
        File.CreateSymbolicLink(Path.Combine(root, "link"), "a.txt");
        foreach (var (relative, mode) in new[] { ("a.txt", 0x1A4u), ("run.sh", 0x1EDu), ("sub/b.txt", 0x180u), ("sub", 0x1E8u), (".", 0x1EDu) })
        {
            Assert.Equal(Errno.OK, Check(chmod(Path.Combine(root, relative), mode)));
        }

        var (exit, error) = Sh("cd \"$1\" && chown -hR \"$2:$3\" . && touch -h -d '2021-03-04 05:06:07.123456789' link a.txt run.sh sub/b.txt sub .", root,
            guest.Uid.ToString(CultureInfo.InvariantCulture), guest.Gid.ToString(CultureInfo.InvariantCulture));
        Assert.True(exit == 0, error);
        return root;
    }

    private static readonly string[] TreeEntries = [".", "a.txt", "run.sh", "sub", "sub/b.txt", "link"];

    /// <summary>Each entry of the copy has the native entry's type and mode, its mtime (to the second, or to the ns), and the symlink its target.</summary>
    private static void AssertSameTree(string native, string copy, bool nanoseconds)
    {
        foreach (var relative in TreeEntries)
        {
            var a = StatOrFail(Path.Combine(native, relative));
            var b = StatOrFail(Path.Combine(copy, relative));
            Assert.Equal((relative, Convert.ToString(a.Mode, 8)), (relative, Convert.ToString(b.Mode, 8)));
            Assert.Equal((relative, a.Mtime.Sec, nanoseconds ? a.Mtime.Nsec : 0), (relative, b.Mtime.Sec, nanoseconds ? b.Mtime.Nsec : 0));
        }

        Assert.Equal("a.txt", new FileInfo(Path.Combine(copy, "link")).LinkTarget);
        Assert.Equal("b\n", File.ReadAllText(Path.Combine(copy, "sub", "b.txt")));
    }

    [Fact]
    public void CpArchive_ANativeTreeIntoTheView_ExitsZeroAndPreservesModesAndTimes()
    {
        var (view, host) = NewDir("cpa");
        var native = NativeTree("cpa");

        var (exit, error) = Run("cp", "-a", native, Path.Combine(view, "copy"));

        Assert.True(exit == 0, $"cp -a exited {exit}: {error}");
        Assert.Equal("", error);
        AssertSameTree(native, Path.Combine(host, "copy"), nanoseconds: true);
        AssertSameTree(native, Path.Combine(view, "copy"), nanoseconds: true);
    }

    [Fact]
    public void TarExtract_AsRootIntoTheView_ExitsZeroAndPreservesModesAndTimes()
    {
        var (view, host) = NewDir("tarx");
        var native = NativeTree("tarx");
        var archive = Path.Combine(Dirs.Root, "native", "tarx.tar");
        var (exit, error) = Run("tar", "-C", native, "-cf", archive, ".");
        Assert.True(exit == 0, error);

        // As root, tar restores owners (--same-owner) and modes (--same-permissions).
        (exit, error) = Run("tar", "-C", view, "--numeric-owner", "-xf", archive);

        Assert.True(exit == 0, $"tar x exited {exit}: {error}");
        Assert.Equal("", error);
        AssertSameTree(native, host, nanoseconds: false);
        AssertSameTree(native, view, nanoseconds: false);
    }

    private static unsafe Errno SetXattrBytes(string path, string name, byte[] value)
    {
        fixed (byte* p = value)
        {
            return Check(native_setxattr(path, name, p, (nuint)value.Length, 0));
        }
    }

    private static unsafe Errno GetXattrSize(string path, string name, out int size)
    {
        var n = native_getxattr(path, name, null, 0);
        size = (int)Math.Max(n, 0);
        return n < 0 ? LastErrno : Errno.OK;
    }

    private static unsafe Errno ListXattrSize(string path, out int size)
    {
        var n = native_listxattr(path, null, 0);
        size = (int)Math.Max(n, 0);
        return n < 0 ? LastErrno : Errno.OK;
    }

    [LibraryImport("libc", EntryPoint = "setxattr", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static unsafe partial int native_setxattr(string path, string name, byte* value, nuint size, int flags);

    [LibraryImport("libc", EntryPoint = "getxattr", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static unsafe partial nint native_getxattr(string path, string name, byte* value, nuint size);

    [LibraryImport("libc", EntryPoint = "listxattr", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static unsafe partial nint native_listxattr(string path, byte* list, nuint size);
}
