namespace Spectrum.Interop.Tests;

public sealed class StatTests : IDisposable
{
    private readonly TempTree _tree = new();

    public void Dispose() => _tree.Dispose();

    [Fact]
    public void Stat_OPathFd_MatchesFilesStatAndTheFile()
    {
        var path = _tree.File("f", "12345");
        File.SetLastWriteTimeUtc(path, new DateTime(2020, 1, 2, 3, 4, 5, DateTimeKind.Utc));
        using var fd = _tree.Open("f", OpenFlags.Path);
        Assert.Equal(Errno.OK, Posix.Stat(fd, out var st));
        var reference = Files.Stat(fd);
        Assert.Equal(reference.Ino, st.Ino);
        Assert.Equal(reference.Dev, st.Dev);
        Assert.Equal(reference.Mode, st.Mode);
        Assert.Equal(reference.Uid, st.Uid);
        Assert.Equal(5ul, st.Size);
        Assert.Equal(1u, st.Nlink);
        Assert.True(st.IsRegular);
        Assert.True(st.Blksize > 0);
        Assert.Equal(new DateTimeOffset(2020, 1, 2, 3, 4, 5, TimeSpan.Zero).ToUnixTimeSeconds(), st.MtimeSec);
        Assert.True(st.CtimeSec > st.MtimeSec);
        Assert.True(st.AtimeSec > 0);
        Assert.NotEqual(0u, st.Mask & 0x7FF);
    }

    [Fact]
    public void StatAt_Symlink_IsNotFollowed()
    {
        _tree.Symlink("link", "/etc/passwd");
        Assert.Equal(Errno.OK, Posix.StatAt(_tree.Root, "link"u8, out var st));
        Assert.True(st.IsSymlink);
        Assert.Equal((ulong)"/etc/passwd".Length, st.Size);
    }

    [Fact]
    public void StatAt_Missing_IsEnoent() =>
        Assert.Equal(Errno.ENOENT, Posix.StatAt(_tree.Root, "missing"u8, out _));

    [Fact]
    public void StatAt_Directory_ReportsDirectoryAndDevice()
    {
        _tree.Dir("d");
        Assert.Equal(Errno.OK, Posix.StatAt(_tree.Root, "d"u8, out var st));
        Assert.True(st.IsDirectory);
        Assert.Equal(Files.Stat(_tree.Root).Dev, st.Dev);
        Assert.NotEqual(0ul, st.MountId);
    }

    [Fact]
    public void Rdev_OfDevNull_IsMakedev1_3()
    {
        using var dev = Files.OpenDirectoryPath("/dev");
        Assert.Equal(Errno.OK, Posix.StatAt(dev, "null"u8, out var st));
        Assert.Equal(1u, st.RdevMajor);
        Assert.Equal(3u, st.RdevMinor);
        Assert.Equal((1ul << 8) | 3, st.Rdev);
    }

    [Fact]
    public void MakeDev_MatchesGlibcEncoding()
    {
        Assert.Equal((ulong)CHeaders.Value("MAKEDEV_TEST"), Posix.MakeDev(0x12345, 0x6789AB));
        Assert.Equal((8ul << 8) | 1, Posix.MakeDev(8, 1));
    }
}
