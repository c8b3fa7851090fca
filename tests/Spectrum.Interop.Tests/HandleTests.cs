namespace Spectrum.Interop.Tests;

public sealed class HandleTests : IDisposable
{
    private readonly TempTree _tree = new();
    private readonly SafeFd _mount;

    public HandleTests()
    {
        Assert.Equal(Errno.OK, Posix.Reopen(_tree.Root, OpenFlags.ReadOnly | OpenFlags.Directory, out var mount));
        _mount = mount!;
    }

    public void Dispose()
    {
        _mount.Dispose();
        _tree.Dispose();
    }

    [Fact]
    public void OpenByHandle_OfAFileMovedElsewhere_OpensThatSameFile()
    {
        _tree.File("a.txt", "hello");
        Assert.Equal(Errno.OK, Posix.OpenAt(_tree.Root, "a.txt"u8, OpenFlags.Path, 0, out var fd));
        var handle = new byte[Posix.MaxHandleSize];
        int type, length;
        using (fd)
        {
            Assert.Equal(Errno.OK, Posix.GetHandle(fd!, handle, out type, out length));
        }

        Assert.InRange(length, 1, Posix.MaxHandleSize);
        Assert.Equal(Errno.OK, Posix.RenameAt(_tree.Root, "a.txt"u8, _tree.Root, "b.txt"u8, RenameFlags.None));
        Assert.Equal(Errno.OK, Posix.OpenByHandle(_mount, type, handle.AsSpan(0, length), OpenFlags.Path, out var again));
        using (again)
        {
            Assert.Equal(Errno.OK, Posix.Reopen(again!, OpenFlags.ReadOnly, out var readable));
            using (readable)
            {
                var buffer = new byte[16];
                Assert.Equal(Errno.OK, Posix.PRead(readable!, buffer, 0, out var read));
                Assert.Equal("hello", T.S(buffer.AsSpan(0, read)));
            }
        }
    }

    [Fact]
    public void OpenByHandle_OfADeletedFile_IsEstale()
    {
        _tree.File("gone.txt", "x");
        Assert.Equal(Errno.OK, Posix.OpenAt(_tree.Root, "gone.txt"u8, OpenFlags.Path, 0, out var fd));
        var handle = new byte[Posix.MaxHandleSize];
        Assert.Equal(Errno.OK, Posix.GetHandle(fd!, handle, out var type, out var length));
        fd!.Dispose();
        Assert.Equal(Errno.OK, Posix.UnlinkAt(_tree.Root, "gone.txt"u8, directory: false));
        Assert.Equal(Errno.ESTALE, Posix.OpenByHandle(_mount, type, handle.AsSpan(0, length), OpenFlags.Path, out var none));
        Assert.Null(none);
    }

    [Fact]
    public void OpenByHandle_WithAnOPathMountFd_IsEbadf()
    {
        Assert.Equal(Errno.OK, Posix.GetHandle(_tree.Root, new byte[Posix.MaxHandleSize], out var type, out var length));
        var handle = new byte[Posix.MaxHandleSize];
        Assert.Equal(Errno.OK, Posix.GetHandle(_tree.Root, handle, out type, out length));
        Assert.Equal(Errno.EBADF, Posix.OpenByHandle(_tree.Root, type, handle.AsSpan(0, length), OpenFlags.Path, out _));
    }

    [Fact]
    public void GetHandle_WithTooSmallABuffer_IsEinval()
    {
        Assert.Equal(Errno.EINVAL, Posix.GetHandle(_tree.Root, new byte[8], out _, out _));
    }
}
