namespace Spectrum.Interop.Tests;

public sealed class DirTests : IDisposable
{
    private readonly TempTree _tree = new();

    public void Dispose() => _tree.Dispose();

    [Fact]
    public void MkdirAt_CreatesWithMode_ThenEexist()
    {
        Assert.Equal(Errno.OK, Posix.MkdirAt(_tree.Root, "d"u8, 0b111_000_000));
        Assert.Equal(Errno.OK, Posix.StatAt(_tree.Root, "d"u8, out var st));
        Assert.True(st.IsDirectory);
        Assert.Equal(0b111_000_000u, st.Mode & 0xFFF);
        Assert.Equal(Errno.EEXIST, Posix.MkdirAt(_tree.Root, "d"u8, 0b111_000_000));
    }

    [Fact]
    public void UnlinkAt_FileAndEmptyDirectory_Removed()
    {
        _tree.File("f");
        _tree.Dir("d");
        Assert.Equal(Errno.OK, Posix.UnlinkAt(_tree.Root, "f"u8, directory: false));
        Assert.Equal(Errno.OK, Posix.UnlinkAt(_tree.Root, "d"u8, directory: true));
        Assert.False(File.Exists(_tree["f"]));
        Assert.False(Directory.Exists(_tree["d"]));
    }

    [Fact]
    public void UnlinkAt_WrongKindOrNonEmpty_Refused()
    {
        _tree.File("d/inner");
        _tree.File("f");
        Assert.Equal(Errno.ENOTEMPTY, Posix.UnlinkAt(_tree.Root, "d"u8, directory: true));
        Assert.Equal(Errno.EISDIR, Posix.UnlinkAt(_tree.Root, "d"u8, directory: false));
        Assert.Equal(Errno.ENOTDIR, Posix.UnlinkAt(_tree.Root, "f"u8, directory: true));
    }

    [Fact]
    public void RenameAt_NoReplaceOntoExisting_IsEexist()
    {
        _tree.File("a", "A");
        _tree.File("b", "B");
        Assert.Equal(Errno.EEXIST, Posix.RenameAt(_tree.Root, "a"u8, _tree.Root, "b"u8, RenameFlags.NoReplace));
        Assert.Equal("B", File.ReadAllText(_tree["b"]));
        Assert.Equal(Errno.OK, Posix.RenameAt(_tree.Root, "a"u8, _tree.Root, "c"u8, RenameFlags.NoReplace));
        Assert.Equal("A", File.ReadAllText(_tree["c"]));
    }

    [Fact]
    public void RenameAt_Exchange_SwapsAcrossDirectories()
    {
        _tree.File("x/a", "A");
        _tree.File("y/b", "B");
        using var x = _tree.Open("x", OpenFlags.Path | OpenFlags.Directory);
        using var y = _tree.Open("y", OpenFlags.Path | OpenFlags.Directory);
        Assert.Equal(Errno.OK, Posix.RenameAt(x, "a"u8, y, "b"u8, RenameFlags.Exchange));
        Assert.Equal("B", File.ReadAllText(_tree["x/a"]));
        Assert.Equal("A", File.ReadAllText(_tree["y/b"]));
        Assert.Equal(Errno.ENOENT, Posix.RenameAt(x, "a"u8, y, "missing"u8, RenameFlags.Exchange));
    }

    [Fact]
    public void RenameAt_Replace_Overwrites()
    {
        _tree.File("a", "A");
        _tree.File("b", "B");
        Assert.Equal(Errno.OK, Posix.RenameAt(_tree.Root, "a"u8, _tree.Root, "b"u8, RenameFlags.None));
        Assert.Equal("A", File.ReadAllText(_tree["b"]));
    }

    [Fact]
    public void LinkAt_AddsAName()
    {
        _tree.File("a", "A");
        Assert.Equal(Errno.OK, Posix.LinkAt(_tree.Root, "a"u8, _tree.Root, "b"u8));
        Assert.Equal(Errno.OK, Posix.StatAt(_tree.Root, "b"u8, out var st));
        Assert.Equal(2u, st.Nlink);
    }

    [RootFact]
    public void LinkFd_OPathFd_LinksTheInodeItHolds()
    {
        _tree.File("a", "A");
        using var fd = _tree.Open("a", OpenFlags.Path);
        File.Move(_tree["a"], _tree["moved"]);
        _tree.File("a", "impostor");
        Assert.Equal(Errno.OK, Posix.LinkFd(fd, _tree.Root, "b"u8));
        Assert.Equal("A", File.ReadAllText(_tree["b"]));

        // Once the last name is gone the inode cannot be linked back.
        File.Delete(_tree["moved"]);
        File.Delete(_tree["b"]);
        Assert.Equal(Errno.ENOENT, Posix.LinkFd(fd, _tree.Root, "c"u8));
    }

    [Fact]
    public void SymlinkAt_ThenReadLink_RoundTripsTheTargetBytes()
    {
        var target = "../../some where/\u00e9t\u00e9"u8;
        Assert.Equal(Errno.OK, Posix.SymlinkAt(target, _tree.Root, "l"u8));
        var buffer = new byte[Posix.PathMax];
        Assert.Equal(Errno.OK, Posix.ReadLinkAt(_tree.Root, "l"u8, buffer, out var length));
        Assert.True(target.SequenceEqual(buffer.AsSpan(0, length)));

        Assert.Equal(Errno.OK, Posix.OpenAt(_tree.Root, "l"u8, OpenFlags.Path, 0, out var link));
        using (link)
        {
            Array.Clear(buffer);
            Assert.Equal(Errno.OK, Posix.ReadLink(link!, buffer, out length));
            Assert.True(target.SequenceEqual(buffer.AsSpan(0, length)));
        }
    }

    [Fact]
    public void ReadLinkAt_BufferTooSmall_IsErange()
    {
        _tree.Symlink("l", "0123456789");
        Assert.Equal(Errno.ERANGE, Posix.ReadLinkAt(_tree.Root, "l"u8, new byte[10], out _));
        Assert.Equal(Errno.OK, Posix.ReadLinkAt(_tree.Root, "l"u8, new byte[11], out var length));
        Assert.Equal(10, length);
    }

    [Fact]
    public void ReadLinkAt_NotASymlink_IsEinval()
    {
        _tree.File("f");
        Assert.Equal(Errno.EINVAL, Posix.ReadLinkAt(_tree.Root, "f"u8, new byte[64], out _));
    }

    [Fact]
    public void MknodAt_RegularFileAndFifo_Created()
    {
        Assert.Equal(Errno.OK, Posix.MknodAt(_tree.Root, "reg"u8, 0x8000 | 0b110_100_100, 0));
        Assert.Equal(Errno.OK, Posix.StatAt(_tree.Root, "reg"u8, out var st));
        Assert.True(st.IsRegular);
        Assert.Equal(Errno.OK, Posix.MknodAt(_tree.Root, "fifo"u8, 0x1000 | 0b110_100_100, 0));
        Assert.Equal(Errno.OK, Posix.StatAt(_tree.Root, "fifo"u8, out st));
        Assert.Equal(0x1000u, st.Mode & 0xF000);
    }

    [Fact]
    public void NameOps_DotDot_AreRefusedBeforeTheKernel()
    {
        Assert.Equal(Errno.EINVAL, Posix.MkdirAt(_tree.Root, "../escape"u8, 0b111_000_000));
        Assert.Equal(Errno.EINVAL, Posix.UnlinkAt(_tree.Root, ".."u8, directory: true));
        Assert.Equal(Errno.EINVAL, Posix.RenameAt(_tree.Root, "a"u8, _tree.Root, "../b"u8, RenameFlags.None));
        Assert.Equal(Errno.EINVAL, Posix.SymlinkAt("x"u8, _tree.Root, "a/b"u8));
        Assert.False(Directory.Exists(Path.Combine(_tree.Path, "..", "escape")));
    }
}
