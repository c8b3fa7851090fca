namespace Spectrum.Interop.Tests;

public sealed class XattrTests : IDisposable
{
    private readonly TempTree _tree = new(UserXattrFactAttribute.Dir);

    public void Dispose() => _tree.Dispose();

    [UserXattrFact]
    public void Xattr_RegularFd_RoundTrip()
    {
        _tree.File("f");
        using var fd = _tree.Open("f", OpenFlags.ReadWrite);
        Assert.Equal(Errno.OK, Posix.SetXattr(fd, "user.colour"u8, "blue"u8, XattrFlags.None));
        Assert.Equal(Errno.OK, Posix.SetXattr(fd, "user.empty"u8, ReadOnlySpan<byte>.Empty, XattrFlags.Create));

        Assert.Equal(Errno.OK, Posix.GetXattr(fd, "user.colour"u8, Span<byte>.Empty, out var size));
        Assert.Equal(4, size);
        var value = new byte[size];
        Assert.Equal(Errno.OK, Posix.GetXattr(fd, "user.colour"u8, value, out var length));
        Assert.Equal("blue", T.S(value.AsSpan(0, length)));
        Assert.Equal(Errno.ERANGE, Posix.GetXattr(fd, "user.colour"u8, new byte[2], out _));

        var list = new byte[256];
        Assert.Equal(Errno.OK, Posix.ListXattr(fd, list, out length));
        var names = new List<string>();
        foreach (var name in new XattrNameReader(list.AsSpan(0, length)))
        {
            names.Add(T.S(name));
        }

        Assert.Contains("user.colour", names);
        Assert.Contains("user.empty", names);

        Assert.Equal(Errno.EEXIST, Posix.SetXattr(fd, "user.colour"u8, "red"u8, XattrFlags.Create));
        Assert.Equal(Errno.ENODATA, Posix.SetXattr(fd, "user.missing"u8, "x"u8, XattrFlags.Replace));
        Assert.Equal(Errno.OK, Posix.RemoveXattr(fd, "user.colour"u8));
        Assert.Equal(Errno.ENODATA, Posix.GetXattr(fd, "user.colour"u8, value, out _));
        Assert.Equal(Errno.ENODATA, Posix.RemoveXattr(fd, "user.colour"u8));
    }

    [UserXattrFact]
    public void Xattr_OPathFd_RoundTripThroughProc()
    {
        _tree.File("f");
        using var fd = _tree.Open("f", OpenFlags.Path);
        Assert.Equal(Errno.OK, Posix.SetXattrOPath(fd, "user.k"u8, "v1"u8, XattrFlags.None));
        var value = new byte[16];
        Assert.Equal(Errno.OK, Posix.GetXattrOPath(fd, "user.k"u8, value, out var length));
        Assert.Equal("v1", T.S(value.AsSpan(0, length)));
        var list = new byte[64];
        Assert.Equal(Errno.OK, Posix.ListXattrOPath(fd, list, out length));
        Assert.Contains("user.k", T.S(list.AsSpan(0, length)).Split('\0'));
        Assert.Equal(Errno.OK, Posix.RemoveXattrOPath(fd, "user.k"u8));
        Assert.Equal(Errno.ENODATA, Posix.GetXattrOPath(fd, "user.k"u8, value, out _));

        // The same attribute is visible through a reopened fd: both forms reach the same inode.
        Assert.Equal(Errno.OK, Posix.SetXattrOPath(fd, "user.k"u8, "v2"u8, XattrFlags.Create));
        Assert.Equal(Errno.OK, Posix.Reopen(fd, OpenFlags.ReadOnly, out var real));
        using (real)
        {
            Assert.Equal(Errno.OK, Posix.GetXattr(real!, "user.k"u8, value, out length));
            Assert.Equal("v2", T.S(value.AsSpan(0, length)));
        }
    }

    [UserXattrFact]
    public void Xattr_RegularFormOnOPathFd_IsEbadf()
    {
        _tree.File("f");
        using var fd = _tree.Open("f", OpenFlags.Path);
        Assert.Equal(Errno.EBADF, Posix.GetXattr(fd, "user.k"u8, new byte[8], out _));
    }

    [Fact]
    public void XattrNameTooLong_IsErange()
    {
        _tree.File("f");
        using var fd = _tree.Open("f", OpenFlags.ReadWrite);
        Assert.Equal(Errno.ERANGE, Posix.SetXattr(fd, T.B("user." + new string('n', 300)), "v"u8, XattrFlags.None));
    }
}
