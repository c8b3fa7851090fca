using System.Text;
using Spectrum.Interop;

namespace Spectrum.FuseFs.Tests;

/// <summary>Real mounts exercised with real syscalls from this process.</summary>
[Collection(KernelCaches.Name)]
public sealed class MountTests
{
    [Fact]
    public void Init_NegotiatesMinorVersionAndOnlyOfferedFlags()
    {
        using var mount = new TestMount();
        var connection = mount.Session.Connection;
        Assert.Equal(7u, connection.ProtocolMajor);
        Assert.True(connection.ProtocolMinor is >= 31 and <= 45, $"minor {connection.ProtocolMinor}");
        Assert.Equal(FuseInitFlags.None, connection.Flags & ~connection.KernelFlags);
        foreach (var flag in new[] { FuseInitFlags.AsyncRead, FuseInitFlags.BigWrites, FuseInitFlags.MaxPages, FuseInitFlags.ParallelDirops, FuseInitFlags.DoReaddirplus, FuseInitFlags.ExportSupport })
        {
            Assert.True((connection.Flags & flag) != 0, $"{flag} not negotiated");
        }

        Assert.Equal(FuseInitFlags.None, connection.Flags & (FuseInitFlags.PosixLocks | FuseInitFlags.Passthrough | FuseInitFlags.WritebackCache));
        Assert.Equal(256, connection.MaxPages);
        Assert.Equal(mount.Session.Connection, mount.FileSystem.Connection);
    }

    [Fact]
    public void File_WriteThenRead_RoundTripsThroughTheMount()
    {
        using var mount = new TestMount();
        var data = new byte[3 << 20];
        Random.Shared.NextBytes(data);
        File.WriteAllBytes(mount["big.bin"], data);
        Assert.Equal(data, File.ReadAllBytes(Path.Combine(mount.Backing, "big.bin")));
        Assert.Equal(data, File.ReadAllBytes(mount["big.bin"]));
        File.AppendAllText(mount["log.txt"], "one\n");
        File.AppendAllText(mount["log.txt"], "two\n");
        Assert.Equal("one\ntwo\n", File.ReadAllText(mount["log.txt"]));
        Assert.Equal(data.Length, new FileInfo(mount["big.bin"]).Length);
        Assert.Empty(mount.Errors);
    }

    [Fact]
    public void Namespace_CreateMkdirRenameUnlinkRmdir_AreVisibleOnTheHost()
    {
        using var mount = new TestMount();
        Directory.CreateDirectory(mount["a/b"]);
        File.WriteAllText(mount["a/b/f.txt"], "x");
        Assert.True(File.Exists(Path.Combine(mount.Backing, "a/b/f.txt")));
        File.Move(mount["a/b/f.txt"], mount["a/g.txt"]);
        Assert.False(File.Exists(mount["a/b/f.txt"]));
        Assert.Equal("x", File.ReadAllText(mount["a/g.txt"]));
        Directory.Move(mount["a/b"], mount["c"]);
        Assert.True(Directory.Exists(Path.Combine(mount.Backing, "c")));
        File.Delete(mount["a/g.txt"]);
        Assert.False(File.Exists(Path.Combine(mount.Backing, "a/g.txt")));
        Directory.Delete(mount["c"]);
        Directory.Delete(mount["a"]);
        Assert.Empty(Directory.GetFileSystemEntries(mount.MountPoint));
        Assert.Equal(Errno.ENOENT, Native.Lstat(mount["a"], out _));
        Assert.Empty(mount.Errors);
    }

    [Fact]
    public void Rename2_NoReplaceAndExchange_FollowRenameat2()
    {
        using var mount = new TestMount();
        File.WriteAllText(mount["x"], "x");
        File.WriteAllText(mount["y"], "y");
        Assert.NotEqual(0, Native.renameat2(Native.AT_FDCWD, mount["x"], Native.AT_FDCWD, mount["y"], 1 /* NOREPLACE */));
        Assert.Equal(Errno.EEXIST, Native.LastErrno);
        Assert.Equal(0, Native.renameat2(Native.AT_FDCWD, mount["x"], Native.AT_FDCWD, mount["y"], 2 /* EXCHANGE */));
        Assert.Equal("y", File.ReadAllText(mount["x"]));
        Assert.Equal("x", File.ReadAllText(mount["y"]));
    }

    [Fact]
    public void Symlink_IsCreatedAndReadBack()
    {
        using var mount = new TestMount();
        File.WriteAllText(mount["target"], "t");
        File.CreateSymbolicLink(mount["link"], "target");
        Assert.Equal("target", new FileInfo(mount["link"]).LinkTarget);
        Assert.Equal("target", File.ResolveLinkTarget(Path.Combine(mount.Backing, "link"), false)!.Name);
        Assert.Equal("t", File.ReadAllText(mount["link"]));
        Assert.Equal(Errno.OK, Native.Lstat(mount["link"], out var stat));
        Assert.Equal(0xA000, stat.Mode & 0xF000);
    }

    [Fact]
    public void Link_HardLinkSharesTheInode()
    {
        using var mount = new TestMount();
        File.WriteAllText(mount["one"], "1");
        Assert.Equal(0, Native.link(mount["one"], mount["two"]));
        Native.Lstat(mount["one"], out var one);
        Native.Lstat(mount["two"], out var two);
        Assert.Equal(one.Ino, two.Ino);
        Assert.Equal(2u, two.Nlink);
    }

    [Fact]
    public unsafe void StatFs_ReportsTheBackingFilesystem()
    {
        using var mount = new TestMount();
        Native.StatVfs viaMount, direct;
        Assert.Equal(0, Native.statvfs(mount.MountPoint, &viaMount));
        Assert.Equal(0, Native.statvfs(mount.Backing, &direct));
        Assert.Equal(direct.Blocks, viaMount.Blocks);
        Assert.Equal(direct.Bsize, viaMount.Bsize);
    }

    [Fact]
    public void SetAttr_ChmodAndTruncate_ReachTheBackingFile()
    {
        using var mount = new TestMount(configure: fs => fs.AttrTimeout = TimeSpan.Zero);
        File.WriteAllText(mount["f"], "0123456789");
        File.SetUnixFileMode(mount["f"], UnixFileMode.UserRead | UnixFileMode.UserWrite);
        Native.Lstat(Path.Combine(mount.Backing, "f"), out var stat);
        Assert.Equal(0x180, stat.Mode & 0xFFF);
        Assert.Equal(0, Native.truncate(mount["f"], 4));
        Assert.Equal("0123", File.ReadAllText(mount["f"]));
        using (var stream = new FileStream(mount["f"], FileMode.Open, FileAccess.ReadWrite))
        {
            stream.SetLength(2);
        }

        Assert.Equal(2, new FileInfo(Path.Combine(mount.Backing, "f")).Length);
    }

    [Fact]
    public void ReadDir_ManyEntries_ListsEveryNameOnce()
    {
        using var mount = new TestMount();
        var names = Enumerable.Range(0, 3000).Select(i => $"entry-with-a-longish-name-{i:D5}").ToArray();
        foreach (var name in names)
        {
            File.WriteAllText(Path.Combine(mount.Backing, name), "");
        }

        var listed = Directory.GetFiles(mount.MountPoint).Select(Path.GetFileName).Order(StringComparer.Ordinal).ToArray();
        Assert.Equal(names, listed);
    }

    [Fact]
    public void ReadDir_SeekdirToTelldirCookie_ResumesAtTheSameEntry()
    {
        using var mount = new TestMount();
        for (var i = 0; i < 1000; i++)
        {
            File.WriteAllText(Path.Combine(mount.Backing, $"n{i:D4}"), "");
        }

        var dir = Native.opendir(mount.MountPoint);
        Assert.NotEqual(0, dir);
        try
        {
            for (var i = 0; i < 600; i++)
            {
                Assert.NotEqual(0, Native.readdir(dir));
            }

            var cookie = Native.telldir(dir);
            var next = Native.DirentName(Native.readdir(dir));
            for (var i = 0; i < 200; i++)
            {
                Native.readdir(dir);
            }

            Native.seekdir(dir, cookie);
            Assert.Equal(next, Native.DirentName(Native.readdir(dir)));
            Native.seekdir(dir, 0);
            Assert.Equal(".", Native.DirentName(Native.readdir(dir)));
        }
        finally
        {
            Native.closedir(dir);
        }
    }

    [Fact]
    public void Lookup_MissingName_ReturnsEnoent()
    {
        using var mount = new TestMount();
        Assert.Equal(Errno.ENOENT, Native.Lstat(mount["nope"], out _));
        Assert.False(File.Exists(mount["nope/deeper"]));
    }

    [Fact]
    public void Lookup_NameTooLong_ReturnsEnametoolong()
    {
        using var mount = new TestMount();
        Assert.Equal(Errno.ENAMETOOLONG, Native.Lstat(mount[new string('a', 256)], out _));
        File.WriteAllText(mount[new string('b', 255)], "long");
        Assert.Equal("long", File.ReadAllText(mount[new string('b', 255)]));
    }

    [Fact]
    public void Fallocate_AndSeekData_ReachTheFilesystem()
    {
        using var mount = new TestMount();
        using var file = Native.Open(mount["sparse"], Native.O_CREAT | Native.O_RDWR, 0x1A4, out var errno)!;
        Assert.Equal(Errno.OK, errno);
        Assert.Equal(0, Native.fallocate(file, 0, 0, 1 << 20));
        RandomAccess.Write(file, "end"u8, 8 << 20);
        Assert.Equal((8L << 20) + 3, RandomAccess.GetLength(file));
        var data = Native.lseek(file, 2 << 20, 3 /* SEEK_DATA */);
        Assert.True(data >= 2 << 20, $"SEEK_DATA answered {data}");
        Assert.Equal(0, Native.fsync(file));
    }

    [Fact]
    public void Notify_InvalEntry_MakesAHostSideCreateVisibleDespiteANegativeEntry()
    {
        using var mount = new TestMount(configure: fs =>
        {
            fs.NegativeEntries = true;
            fs.EntryTimeout = TimeSpan.FromHours(1);
        });
        Assert.Equal(Errno.ENOENT, Native.Lstat(mount["late"], out _));
        File.WriteAllText(Path.Combine(mount.Backing, "late"), "here");
        Assert.Equal(Errno.ENOENT, Native.Lstat(mount["late"], out _)); // the negative entry is cached
        Assert.Equal(Errno.OK, mount.Session.InvalidateEntry(FuseSession.RootKey, Encoding.UTF8.GetBytes("late")));
        Assert.Equal(Errno.OK, Native.Lstat(mount["late"], out _));
    }

    [Fact]
    public void Notify_InvalInode_MakesAHostSideChangeVisible()
    {
        using var mount = new TestMount(configure: fs => fs.AttrTimeout = TimeSpan.FromHours(1));
        File.WriteAllText(mount["f"], "old");
        Assert.Equal(3, new FileInfo(mount["f"]).Length);
        File.WriteAllText(Path.Combine(mount.Backing, "f"), "newer");
        Assert.Equal(3, new FileInfo(mount["f"]).Length); // attributes cached
        Assert.Equal(Errno.OK, mount.Session.InvalidateInode(mount.FileSystem.KeyOf("f")));
        Assert.Equal(5, new FileInfo(mount["f"]).Length);
        Assert.Equal("newer", File.ReadAllText(mount["f"]));
    }

    [Fact]
    public void Notify_Delete_RemovesTheCachedEntry()
    {
        using var mount = new TestMount();
        File.WriteAllText(mount["gone"], "x");
        Assert.Equal(Errno.OK, Native.Lstat(mount["gone"], out _));
        File.Delete(Path.Combine(mount.Backing, "gone"));
        Assert.Equal(Errno.OK, Native.Lstat(mount["gone"], out _)); // cached positive entry
        Assert.Equal(Errno.OK, mount.Session.NotifyDelete(FuseSession.RootKey, mount.FileSystem.KeyOf("gone"), "gone"u8));
        Assert.Equal(Errno.ENOENT, Native.Lstat(mount["gone"], out _));
    }
}
