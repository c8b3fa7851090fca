using System.Runtime.InteropServices;

namespace Spectrum.Interop;

/// <summary>setxattr(2) flags.</summary>
[Flags]
public enum XattrFlags
{
    /// <summary>Create or replace.</summary>
    None = 0,

    /// <summary>XATTR_CREATE: fail with EEXIST if the attribute exists.</summary>
    Create = 1,

    /// <summary>XATTR_REPLACE: fail with ENODATA if it does not.</summary>
    Replace = 2,
}

/// <summary>
/// Walks the NUL-separated names <see cref="Posix.ListXattr"/> put in a buffer, without copying:
/// <c>foreach (var name in new XattrNameReader(buffer[..length]))</c>; names come without their NUL.
/// </summary>
public ref struct XattrNameReader
{
    private ReadOnlySpan<byte> _rest;

    public XattrNameReader(ReadOnlySpan<byte> list)
    {
        _rest = list;
        Current = default;
    }

    public ReadOnlySpan<byte> Current { get; private set; }

    public bool MoveNext()
    {
        while (!_rest.IsEmpty)
        {
            var nul = _rest.IndexOf((byte)0);
            var name = nul >= 0 ? _rest[..nul] : _rest;
            _rest = nul >= 0 ? _rest[(nul + 1)..] : default;
            if (!name.IsEmpty)
            {
                Current = name;
                return true;
            }
        }

        return false;
    }

    public readonly XattrNameReader GetEnumerator() => this;
}

// Extended attributes. The plain forms take an fd opened for I/O (f*xattr: an O_PATH fd is
// EBADF); the OPath forms take an O_PATH fd and go through
// /proc/self/fd/N (the broker's own fd table, as Reopen explains), which reaches
// the inode the fd holds. Names are like user.foo; which namespaces a guest may touch is the
// caller's policy. An empty value buffer asks for the size: length is then the size needed.
// Too small a buffer is ERANGE; a missing attribute is ENODATA;
// a filesystem without xattrs is EOPNOTSUPP.
public static partial class Posix
{
    // XATTR_NAME_MAX (255) plus NUL.
    private const int XattrNameSize = 256;

    /// <summary>fgetxattr(fd, name, value).</summary>
    public static unsafe Errno GetXattr(SafeFd fd, ReadOnlySpan<byte> name, Span<byte> value, out int length)
    {
        length = 0;
        Span<byte> n = stackalloc byte[XattrNameSize];
        var error = CopyPath(name, n);
        if (error != Errno.OK)
        {
            return error == Errno.ENAMETOOLONG ? Errno.ERANGE : error;
        }

        using var h = new Held(fd);
        if (!h.Ok)
        {
            return Errno.EBADF;
        }

        nint rc;
        // safe because: n is NUL-terminated and the kernel writes at most value.Length bytes into the pinned span.
        fixed (byte* pn = n)
        fixed (byte* pv = value)
        {
            while ((rc = fgetxattr(h.Fd, pn, pv, (nuint)value.Length)) < 0 && LastErrno() == Errno.EINTR)
            {
            }
        }

        return Result(rc, out length);
    }

    /// <summary>fsetxattr(fd, name, value, flags).</summary>
    public static unsafe Errno SetXattr(SafeFd fd, ReadOnlySpan<byte> name, ReadOnlySpan<byte> value, XattrFlags flags)
    {
        Span<byte> n = stackalloc byte[XattrNameSize];
        var error = CopyPath(name, n);
        if (error != Errno.OK)
        {
            return error == Errno.ENAMETOOLONG ? Errno.ERANGE : error;
        }

        using var h = new Held(fd);
        if (!h.Ok)
        {
            return Errno.EBADF;
        }

        int rc;
        // safe because: n is NUL-terminated and the kernel reads at most value.Length bytes from the pinned span.
        fixed (byte* pn = n)
        fixed (byte* pv = value)
        {
            while ((rc = fsetxattr(h.Fd, pn, pv, (nuint)value.Length, (int)flags)) < 0 && LastErrno() == Errno.EINTR)
            {
            }
        }

        return rc < 0 ? LastErrno() : Errno.OK;
    }

    /// <summary>flistxattr(fd, buffer): NUL-terminated names in buffer[..length], read with <see cref="XattrNameReader"/>.</summary>
    public static unsafe Errno ListXattr(SafeFd fd, Span<byte> buffer, out int length)
    {
        length = 0;
        using var h = new Held(fd);
        if (!h.Ok)
        {
            return Errno.EBADF;
        }

        nint rc;
        // safe because: the kernel writes at most buffer.Length bytes into the pinned span.
        fixed (byte* pb = buffer)
        {
            while ((rc = flistxattr(h.Fd, pb, (nuint)buffer.Length)) < 0 && LastErrno() == Errno.EINTR)
            {
            }
        }

        return Result(rc, out length);
    }

    /// <summary>fremovexattr(fd, name).</summary>
    public static unsafe Errno RemoveXattr(SafeFd fd, ReadOnlySpan<byte> name)
    {
        Span<byte> n = stackalloc byte[XattrNameSize];
        var error = CopyPath(name, n);
        if (error != Errno.OK)
        {
            return error == Errno.ENAMETOOLONG ? Errno.ERANGE : error;
        }

        using var h = new Held(fd);
        if (!h.Ok)
        {
            return Errno.EBADF;
        }

        int rc;
        // safe because: n is a NUL-terminated stack buffer that outlives the call.
        fixed (byte* pn = n)
        {
            while ((rc = fremovexattr(h.Fd, pn)) < 0 && LastErrno() == Errno.EINTR)
            {
            }
        }

        return rc < 0 ? LastErrno() : Errno.OK;
    }

    /// <summary>getxattr("/proc/self/fd/N", name, value) for an O_PATH fd.</summary>
    public static unsafe Errno GetXattrOPath(SafeFd opath, ReadOnlySpan<byte> name, Span<byte> value, out int length)
    {
        length = 0;
        Span<byte> n = stackalloc byte[XattrNameSize];
        var error = CopyPath(name, n);
        if (error != Errno.OK)
        {
            return error == Errno.ENAMETOOLONG ? Errno.ERANGE : error;
        }

        using var h = new Held(opath);
        if (!h.Ok)
        {
            return Errno.EBADF;
        }

        Span<byte> path = stackalloc byte[ProcFdPathSize];
        ProcFdPath(h.Fd, path);
        nint rc;
        // safe because: path and n are NUL-terminated stack buffers and the kernel writes at most value.Length bytes into the pinned span.
        fixed (byte* pp = path)
        fixed (byte* pn = n)
        fixed (byte* pv = value)
        {
            while ((rc = getxattr(pp, pn, pv, (nuint)value.Length)) < 0 && LastErrno() == Errno.EINTR)
            {
            }
        }

        return Result(rc, out length);
    }

    /// <summary>setxattr("/proc/self/fd/N", name, value, flags) for an O_PATH fd.</summary>
    public static unsafe Errno SetXattrOPath(SafeFd opath, ReadOnlySpan<byte> name, ReadOnlySpan<byte> value, XattrFlags flags)
    {
        Span<byte> n = stackalloc byte[XattrNameSize];
        var error = CopyPath(name, n);
        if (error != Errno.OK)
        {
            return error == Errno.ENAMETOOLONG ? Errno.ERANGE : error;
        }

        using var h = new Held(opath);
        if (!h.Ok)
        {
            return Errno.EBADF;
        }

        Span<byte> path = stackalloc byte[ProcFdPathSize];
        ProcFdPath(h.Fd, path);
        int rc;
        // safe because: path and n are NUL-terminated stack buffers and the kernel reads at most value.Length bytes from the pinned span.
        fixed (byte* pp = path)
        fixed (byte* pn = n)
        fixed (byte* pv = value)
        {
            while ((rc = setxattr(pp, pn, pv, (nuint)value.Length, (int)flags)) < 0 && LastErrno() == Errno.EINTR)
            {
            }
        }

        return rc < 0 ? LastErrno() : Errno.OK;
    }

    /// <summary>listxattr("/proc/self/fd/N", buffer) for an O_PATH fd.</summary>
    public static unsafe Errno ListXattrOPath(SafeFd opath, Span<byte> buffer, out int length)
    {
        length = 0;
        using var h = new Held(opath);
        if (!h.Ok)
        {
            return Errno.EBADF;
        }

        Span<byte> path = stackalloc byte[ProcFdPathSize];
        ProcFdPath(h.Fd, path);
        nint rc;
        // safe because: path is a NUL-terminated stack buffer and the kernel writes at most buffer.Length bytes into the pinned span.
        fixed (byte* pp = path)
        fixed (byte* pb = buffer)
        {
            while ((rc = listxattr(pp, pb, (nuint)buffer.Length)) < 0 && LastErrno() == Errno.EINTR)
            {
            }
        }

        return Result(rc, out length);
    }

    /// <summary>removexattr("/proc/self/fd/N", name) for an O_PATH fd.</summary>
    public static unsafe Errno RemoveXattrOPath(SafeFd opath, ReadOnlySpan<byte> name)
    {
        Span<byte> n = stackalloc byte[XattrNameSize];
        var error = CopyPath(name, n);
        if (error != Errno.OK)
        {
            return error == Errno.ENAMETOOLONG ? Errno.ERANGE : error;
        }

        using var h = new Held(opath);
        if (!h.Ok)
        {
            return Errno.EBADF;
        }

        Span<byte> path = stackalloc byte[ProcFdPathSize];
        ProcFdPath(h.Fd, path);
        int rc;
        // safe because: path and n are NUL-terminated stack buffers that outlive the call.
        fixed (byte* pp = path)
        fixed (byte* pn = n)
        {
            while ((rc = removexattr(pp, pn)) < 0 && LastErrno() == Errno.EINTR)
            {
            }
        }

        return rc < 0 ? LastErrno() : Errno.OK;
    }

    private static Errno Result(nint rc, out int length)
    {
        if (rc < 0)
        {
            length = 0;
            return LastErrno();
        }

        length = (int)rc;
        return Errno.OK;
    }

    [LibraryImport("libc", SetLastError = true)]
    private static unsafe partial nint fgetxattr(int fd, byte* name, byte* value, nuint size);

    [LibraryImport("libc", SetLastError = true)]
    private static unsafe partial int fsetxattr(int fd, byte* name, byte* value, nuint size, int flags);

    [LibraryImport("libc", SetLastError = true)]
    private static unsafe partial nint flistxattr(int fd, byte* list, nuint size);

    [LibraryImport("libc", SetLastError = true)]
    private static unsafe partial int fremovexattr(int fd, byte* name);

    [LibraryImport("libc", SetLastError = true)]
    private static unsafe partial nint getxattr(byte* path, byte* name, byte* value, nuint size);

    [LibraryImport("libc", SetLastError = true)]
    private static unsafe partial int setxattr(byte* path, byte* name, byte* value, nuint size, int flags);

    [LibraryImport("libc", SetLastError = true)]
    private static unsafe partial nint listxattr(byte* path, byte* list, nuint size);

    [LibraryImport("libc", SetLastError = true)]
    private static unsafe partial int removexattr(byte* path, byte* name);
}
