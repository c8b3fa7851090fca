using System.Runtime.InteropServices;

namespace Spectrum.Interop;

/// <summary>lseek(2) whence.</summary>
public enum SeekWhence
{
    /// <summary>SEEK_SET.</summary>
    Set = 0,

    /// <summary>SEEK_CUR.</summary>
    Current = 1,

    /// <summary>SEEK_END.</summary>
    End = 2,

    /// <summary>SEEK_DATA: the next offset at or after the given one that holds data (ENXIO past the last data).</summary>
    Data = 3,

    /// <summary>SEEK_HOLE: the next offset at or after the given one in a hole (end of file counts as a hole).</summary>
    Hole = 4,
}

/// <summary>fallocate(2) mode flags.</summary>
[Flags]
public enum FallocateMode
{
    /// <summary>Allocate, extending the file size if the range goes past it.</summary>
    Allocate = 0,

    /// <summary>FALLOC_FL_KEEP_SIZE.</summary>
    KeepSize = 0x01,

    /// <summary>FALLOC_FL_PUNCH_HOLE (must be combined with KeepSize).</summary>
    PunchHole = 0x02,

    /// <summary>FALLOC_FL_COLLAPSE_RANGE.</summary>
    CollapseRange = 0x08,

    /// <summary>FALLOC_FL_ZERO_RANGE.</summary>
    ZeroRange = 0x10,

    /// <summary>FALLOC_FL_INSERT_RANGE.</summary>
    InsertRange = 0x20,

    /// <summary>FALLOC_FL_UNSHARE_RANGE.</summary>
    UnshareRange = 0x40,
}

public static partial class Posix
{
    /// <summary>pread(fd, buffer, offset): up to buffer.Length bytes; <paramref name="read"/> 0 is end of file. EINTR is retried.</summary>
    public static unsafe Errno PRead(SafeFd fd, Span<byte> buffer, long offset, out int read)
    {
        read = 0;
        using var h = new Held(fd);
        if (!h.Ok)
        {
            return Errno.EBADF;
        }

        nint rc;
        // safe because: the kernel writes at most buffer.Length bytes into the pinned span.
        fixed (byte* p = buffer)
        {
            while ((rc = pread(h.Fd, p, (nuint)buffer.Length, offset)) < 0 && LastErrno() == Errno.EINTR)
            {
            }
        }

        if (rc < 0)
        {
            return LastErrno();
        }

        read = (int)rc;
        return Errno.OK;
    }

    /// <summary>
    /// pwrite(fd, data, offset): one call, so <paramref name="written"/> may be short (disk full part
    /// way, a signal after some bytes); the caller reports it or continues. EINTR is retried.
    /// On an O_APPEND fd Linux writes at the end whatever the offset.
    /// </summary>
    public static unsafe Errno PWrite(SafeFd fd, ReadOnlySpan<byte> data, long offset, out int written)
    {
        written = 0;
        using var h = new Held(fd);
        if (!h.Ok)
        {
            return Errno.EBADF;
        }

        nint rc;
        // safe because: the kernel reads at most data.Length bytes from the pinned span.
        fixed (byte* p = data)
        {
            while ((rc = pwrite(h.Fd, p, (nuint)data.Length, offset)) < 0 && LastErrno() == Errno.EINTR)
            {
            }
        }

        if (rc < 0)
        {
            return LastErrno();
        }

        written = (int)rc;
        return Errno.OK;
    }

    /// <summary>fsync(fd). Works on a read-only fd; not on O_PATH (EBADF).</summary>
    public static Errno Fsync(SafeFd fd)
    {
        using var h = new Held(fd);
        if (!h.Ok)
        {
            return Errno.EBADF;
        }

        int rc;
        while ((rc = fsync(h.Fd)) < 0 && LastErrno() == Errno.EINTR)
        {
        }

        return rc < 0 ? LastErrno() : Errno.OK;
    }

    /// <summary>fdatasync(fd).</summary>
    public static Errno Fdatasync(SafeFd fd)
    {
        using var h = new Held(fd);
        if (!h.Ok)
        {
            return Errno.EBADF;
        }

        int rc;
        while ((rc = fdatasync(h.Fd)) < 0 && LastErrno() == Errno.EINTR)
        {
        }

        return rc < 0 ? LastErrno() : Errno.OK;
    }

    /// <summary>ftruncate(fd, length): the fd must be open for writing (EINVAL or EBADF otherwise).</summary>
    public static Errno Ftruncate(SafeFd fd, long length)
    {
        using var h = new Held(fd);
        if (!h.Ok)
        {
            return Errno.EBADF;
        }

        int rc;
        while ((rc = ftruncate(h.Fd, length)) < 0 && LastErrno() == Errno.EINTR)
        {
        }

        return rc < 0 ? LastErrno() : Errno.OK;
    }

    /// <summary>fallocate(fd, mode, offset, length). Unsupported modes are <see cref="Errno.EOPNOTSUPP"/>.</summary>
    public static Errno Fallocate(SafeFd fd, FallocateMode mode, long offset, long length)
    {
        using var h = new Held(fd);
        if (!h.Ok)
        {
            return Errno.EBADF;
        }

        int rc;
        while ((rc = fallocate(h.Fd, (int)mode, offset, length)) < 0 && LastErrno() == Errno.EINTR)
        {
        }

        return rc < 0 ? LastErrno() : Errno.OK;
    }

    /// <summary>lseek(fd, offset, whence): the new offset in <paramref name="position"/>. SEEK_DATA past the last data is <see cref="Errno.ENXIO"/>.</summary>
    public static Errno Seek(SafeFd fd, long offset, SeekWhence whence, out long position)
    {
        position = 0;
        using var h = new Held(fd);
        if (!h.Ok)
        {
            return Errno.EBADF;
        }

        var rc = lseek(h.Fd, offset, (int)whence);
        if (rc < 0)
        {
            return LastErrno();
        }

        position = rc;
        return Errno.OK;
    }

    /// <summary>
    /// copy_file_range(source, &amp;sourceOffset, target, &amp;targetOffset, length, 0): copies in the kernel
    /// (reflinks where the filesystem can), neither fd's file offset moves. <paramref name="copied"/> may
    /// be short, and 0 means <paramref name="sourceOffset"/> is at or past the end. Across filesystems
    /// the kernel may answer <see cref="Errno.EXDEV"/>; the caller then copies with pread/pwrite.
    /// </summary>
    public static unsafe Errno CopyFileRange(SafeFd source, long sourceOffset, SafeFd target, long targetOffset, long length, out long copied)
    {
        copied = 0;
        if (sourceOffset < 0 || targetOffset < 0 || length < 0)
        {
            return Errno.EINVAL;
        }

        using var s = new Held(source);
        using var t = new Held(target);
        if (!s.Ok || !t.Ok)
        {
            return Errno.EBADF;
        }

        nint rc;
        // safe because: the two offsets are stack locals the kernel reads and updates during the call.
        while ((rc = copy_file_range(s.Fd, &sourceOffset, t.Fd, &targetOffset, (nuint)length, 0)) < 0 && LastErrno() == Errno.EINTR)
        {
        }

        if (rc < 0)
        {
            return LastErrno();
        }

        copied = rc;
        return Errno.OK;
    }

    [LibraryImport("libc", SetLastError = true)]
    private static unsafe partial nint pread(int fd, byte* buf, nuint count, long offset);

    [LibraryImport("libc", SetLastError = true)]
    private static unsafe partial nint pwrite(int fd, byte* buf, nuint count, long offset);

    [LibraryImport("libc", SetLastError = true)]
    private static partial int fsync(int fd);

    [LibraryImport("libc", SetLastError = true)]
    private static partial int fdatasync(int fd);

    [LibraryImport("libc", SetLastError = true)]
    private static partial int ftruncate(int fd, long length);

    [LibraryImport("libc", SetLastError = true)]
    private static partial int fallocate(int fd, int mode, long offset, long len);

    [LibraryImport("libc", SetLastError = true)]
    private static partial long lseek(int fd, long offset, int whence);

    [LibraryImport("libc", SetLastError = true)]
    private static unsafe partial nint copy_file_range(int fdIn, long* offIn, int fdOut, long* offOut, nuint len, uint flags);
}
