using System.Diagnostics;
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
