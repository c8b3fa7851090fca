namespace Spectrum.Interop.Tests;

public sealed class AttrTests : IDisposable
{
    private readonly TempTree _tree = new();

    public void Dispose() => _tree.Dispose();

    [Fact]
    public void Chmod_OPathFd_SetsMode()
    {
        _tree.File("f");
        using var fd = _tree.Open("f", OpenFlags.Path);
        Assert.Equal(Errno.OK, Posix.Chmod(fd, 0b110_000_000));
        Assert.Equal(Errno.OK, Posix.Stat(fd, out var st));
        Assert.Equal(0b110_000_000u, st.Mode & 0xFFF);
        Assert.Equal(Errno.OK, Posix.Chmod(fd, 0b111_101_101));
        Assert.Equal(Errno.OK, Posix.Stat(fd, out st));
        Assert.Equal(0b111_101_101u, st.Mode & 0xFFF);
    }

    [Fact]
    public void Chmod_Directory_SetsMode()
    {
        _tree.Dir("d");
        using var fd = _tree.Open("d", OpenFlags.Path | OpenFlags.Directory);
        Assert.Equal(Errno.OK, Posix.Chmod(fd, 0b111_000_000));
        Assert.Equal(Errno.OK, Posix.Stat(fd, out var st));
        Assert.Equal(0b111_000_000u, st.Mode & 0xFFF);
    }

    [Fact]
    public void Chmod_SymlinkFd_IsRefusedAndLeavesTheTarget()
    {
        var target = _tree.File("target");
        File.SetUnixFileMode(target, (UnixFileMode)0b110_100_100);
        _tree.Symlink("link", "target");
        Assert.Equal(Errno.OK, Posix.OpenAt(_tree.Root, "link"u8, OpenFlags.Path, 0, out var link));
        using (link)
        {
            Assert.Equal(Errno.EOPNOTSUPP, Posix.Chmod(link!, 0b111_111_111));
        }

        Assert.Equal((UnixFileMode)0b110_100_100, File.GetUnixFileMode(target));
    }

    [Fact]
    public void Chown_OPathFd_OwnUidAndNoChange_Succeed()
    {
        _tree.File("f");
        using var fd = _tree.Open("f", OpenFlags.Path);
        Assert.Equal(Errno.OK, Posix.Stat(fd, out var before));
        Assert.Equal(Errno.OK, Posix.Chown(fd, before.Uid, Posix.NoChange));
        Assert.Equal(Errno.OK, Posix.Chown(fd, Posix.NoChange, Posix.NoChange));
        Assert.Equal(Errno.OK, Posix.Stat(fd, out var after));
        Assert.Equal(before.Uid, after.Uid);
        Assert.Equal(before.Gid, after.Gid);
    }

    [RootFact]
    public void Chown_SymlinkFd_ChangesTheLinkNotTheTarget()
    {
        _tree.File("target");
        _tree.Symlink("link", "target");
        Assert.Equal(Errno.OK, Posix.OpenAt(_tree.Root, "link"u8, OpenFlags.Path, 0, out var link));
        using (link)
        {
            Assert.Equal(Errno.OK, Posix.Chown(link!, 12345, 23456));
            Assert.Equal(Errno.OK, Posix.Stat(link!, out var st));
            Assert.Equal(12345u, st.Uid);
            Assert.Equal(23456u, st.Gid);
        }

        Assert.Equal(Errno.OK, Posix.StatAt(_tree.Root, "target"u8, out var target));
        Assert.Equal(0u, target.Uid);
    }

    [Fact]
    public void SetTimes_ExplicitAndOmit()
    {
        _tree.File("f");
        using var fd = _tree.Open("f", OpenFlags.Path);
        Assert.Equal(Errno.OK, Posix.SetTimes(fd, new PosixTime(1_000_000_000, 123), new PosixTime(1_500_000_000, 456_789)));
        Assert.Equal(Errno.OK, Posix.Stat(fd, out var st));
        Assert.Equal(1_000_000_000, st.AtimeSec);
        Assert.Equal(123u, st.AtimeNsec);
        Assert.Equal(1_500_000_000, st.MtimeSec);
        Assert.Equal(456_789u, st.MtimeNsec);

        Assert.Equal(Errno.OK, Posix.SetTimes(fd, PosixTime.Omit, PosixTime.Now));
        Assert.Equal(Errno.OK, Posix.Stat(fd, out st));
        Assert.Equal(1_000_000_000, st.AtimeSec);
        Assert.InRange(st.MtimeSec, DateTimeOffset.UtcNow.ToUnixTimeSeconds() - 60, DateTimeOffset.UtcNow.ToUnixTimeSeconds() + 1);
    }

    [Fact]
    public void SetTimes_SymlinkFd_ChangesTheLink()
    {
        _tree.File("target");
        _tree.Symlink("link", "target");
        Assert.Equal(Errno.OK, Posix.OpenAt(_tree.Root, "link"u8, OpenFlags.Path, 0, out var link));
        using (link)
        {
            Assert.Equal(Errno.OK, Posix.SetTimes(link!, PosixTime.Omit, new PosixTime(1_234_567_890, 0)));
            Assert.Equal(Errno.OK, Posix.Stat(link!, out var st));
            Assert.Equal(1_234_567_890, st.MtimeSec);
        }

        Assert.Equal(Errno.OK, Posix.StatAt(_tree.Root, "target"u8, out var target));
        Assert.NotEqual(1_234_567_890, target.MtimeSec);
    }
}
