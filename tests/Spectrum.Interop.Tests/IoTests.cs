namespace Spectrum.Interop.Tests;

public sealed class IoTests : IDisposable
{
    private readonly TempTree _tree = new();

    public void Dispose() => _tree.Dispose();

    [Fact]
    public void PWriteThenPRead_RoundTripsAtOffsets()
    {
        _tree.File("f");
        using var fd = _tree.Open("f", OpenFlags.ReadWrite);
        Assert.Equal(Errno.OK, Posix.PWrite(fd, "world"u8, 6, out var written));
        Assert.Equal(5, written);
        Assert.Equal(Errno.OK, Posix.PWrite(fd, "hello "u8, 0, out written));
        var buffer = new byte[64];
        Assert.Equal(Errno.OK, Posix.PRead(fd, buffer, 0, out var read));
        Assert.Equal("hello world", T.S(buffer.AsSpan(0, read)));
        Assert.Equal(Errno.OK, Posix.PRead(fd, buffer, 6, out read));
        Assert.Equal("world", T.S(buffer.AsSpan(0, read)));
        Assert.Equal(Errno.OK, Posix.PRead(fd, buffer, 100, out read));
        Assert.Equal(0, read);
    }

    [Fact]
    public void PWrite_ReadOnlyFd_IsEbadf()
    {
        _tree.File("f", "x");
        using var fd = _tree.Open("f", OpenFlags.ReadOnly);
        Assert.Equal(Errno.EBADF, Posix.PWrite(fd, "y"u8, 0, out _));
    }

    [Fact]
    public void PRead_Directory_IsEisdir()
    {
        using var dir = _tree.Open(".", OpenFlags.ReadOnly | OpenFlags.Directory);
        Assert.Equal(Errno.EISDIR, Posix.PRead(dir, new byte[8], 0, out _));
    }

    [Fact]
    public void FsyncAndFdatasync_Succeed()
    {
        _tree.File("f", "x");
        using var fd = _tree.Open("f", OpenFlags.ReadWrite);
        Assert.Equal(Errno.OK, Posix.Fsync(fd));
        Assert.Equal(Errno.OK, Posix.Fdatasync(fd));
        using var opath = _tree.Open("f", OpenFlags.Path);
        Assert.Equal(Errno.EBADF, Posix.Fsync(opath));
    }

    [Fact]
    public void Ftruncate_ShrinksAndGrows()
    {
        _tree.File("f", "0123456789");
        using var fd = _tree.Open("f", OpenFlags.ReadWrite);
        Assert.Equal(Errno.OK, Posix.Ftruncate(fd, 4));
        Assert.Equal("0123", File.ReadAllText(_tree["f"]));
        Assert.Equal(Errno.OK, Posix.Ftruncate(fd, 1 << 20));
        Assert.Equal(Errno.OK, Posix.Stat(fd, out var st));
        Assert.Equal(1ul << 20, st.Size);
        Assert.Equal(Errno.EINVAL, Posix.Ftruncate(fd, -1));
    }

    [Fact]
    public void Fallocate_KeepSizeAllocatesWithoutGrowing_PunchHoleFrees()
    {
        _tree.File("f", "x");
        using var fd = _tree.Open("f", OpenFlags.ReadWrite);
        Assert.Equal(Errno.OK, Posix.Fallocate(fd, FallocateMode.KeepSize, 0, 1 << 20));
        Assert.Equal(Errno.OK, Posix.Stat(fd, out var st));
        Assert.Equal(1ul, st.Size);
        Assert.True(st.Blocks >= (1 << 20) / 512, $"blocks {st.Blocks}");

        Assert.Equal(Errno.OK, Posix.Fallocate(fd, FallocateMode.Allocate, 0, 2 << 20));
        Assert.Equal(Errno.OK, Posix.Stat(fd, out st));
        Assert.Equal(2ul << 20, st.Size);

        // ext4 punches only up to the file size, so the range stays inside it.
        Assert.Equal(Errno.OK, Posix.Fallocate(fd, FallocateMode.PunchHole | FallocateMode.KeepSize, 0, 2 << 20));
        Assert.Equal(Errno.OK, Posix.Stat(fd, out st));
        Assert.Equal(0ul, st.Blocks);
        Assert.Equal(2ul << 20, st.Size);
        Assert.Equal(Errno.EOPNOTSUPP, Posix.Fallocate(fd, FallocateMode.PunchHole, 0, 4096));
    }

    [Fact]
    public void Seek_DataAndHole_FindTheSparseLayout()
    {
        _tree.File("sparse");
        using var fd = _tree.Open("sparse", OpenFlags.ReadWrite);
        const long Mib = 1 << 20;
        var block = new byte[4096];
        Array.Fill(block, (byte)'d');
        Assert.Equal(Errno.OK, Posix.PWrite(fd, block, 4 * Mib, out _));
        Assert.Equal(Errno.OK, Posix.Ftruncate(fd, 8 * Mib));

        Assert.Equal(Errno.OK, Posix.Seek(fd, 0, SeekWhence.Hole, out var hole));
        Assert.Equal(0, hole);
        Assert.Equal(Errno.OK, Posix.Seek(fd, 0, SeekWhence.Data, out var data));
        Assert.Equal(4 * Mib, data);
        Assert.Equal(Errno.OK, Posix.Seek(fd, data, SeekWhence.Hole, out hole));
        Assert.Equal(4 * Mib + 4096, hole);
        Assert.Equal(Errno.ENXIO, Posix.Seek(fd, hole, SeekWhence.Data, out _));
        Assert.Equal(Errno.OK, Posix.Seek(fd, 0, SeekWhence.End, out var end));
        Assert.Equal(8 * Mib, end);
    }

    [Fact]
    public void Seek_OPathFd_IsEbadf()
    {
        _tree.File("f");
        using var fd = _tree.Open("f", OpenFlags.Path);
        Assert.Equal(Errno.EBADF, Posix.Seek(fd, 0, SeekWhence.Set, out _));
    }

    [Fact]
    public void CopyFileRange_CopiesTheRangeAndLeavesFileOffsets()
    {
        _tree.File("src", "0123456789abcdef");
        _tree.File("dst", "________________");
        using var src = _tree.Open("src", OpenFlags.ReadOnly);
        using var dst = _tree.Open("dst", OpenFlags.ReadWrite);
        Assert.Equal(Errno.OK, Posix.CopyFileRange(src, 4, dst, 8, 6, out var copied));
        Assert.Equal(6, copied);
        Assert.Equal("________456789__", File.ReadAllText(_tree["dst"]));
        Assert.Equal(Errno.OK, Posix.Seek(src, 0, SeekWhence.Current, out var position));
        Assert.Equal(0, position);
        Assert.Equal(Errno.OK, Posix.CopyFileRange(src, 100, dst, 0, 6, out copied));
        Assert.Equal(0, copied);
        Assert.Equal(Errno.EINVAL, Posix.CopyFileRange(src, -1, dst, 0, 6, out _));
    }
}
