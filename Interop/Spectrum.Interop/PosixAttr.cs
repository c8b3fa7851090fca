using System.Runtime.InteropServices;

namespace Spectrum.Interop;

/// <summary>A struct timespec for <see cref="Posix.SetTimes"/>, with the UTIME_NOW / UTIME_OMIT markers.</summary>
[StructLayout(LayoutKind.Sequential)]
public readonly struct PosixTime : IEquatable<PosixTime>
{
    private const long UTIME_NOW = (1L << 30) - 1;
    private const long UTIME_OMIT = (1L << 30) - 2;

    private readonly long _sec;
    private readonly long _nsec;

    public PosixTime(long seconds, long nanoseconds)
    {
        _sec = seconds;
        _nsec = nanoseconds;
    }

    /// <summary>UTIME_NOW: set this time to the current time.</summary>
    public static PosixTime Now => new(0, UTIME_NOW);

    /// <summary>UTIME_OMIT: leave this time unchanged.</summary>
    public static PosixTime Omit => new(0, UTIME_OMIT);

    public long Seconds => _sec;

    public long Nanoseconds => _nsec;

    public static bool operator ==(PosixTime left, PosixTime right) => left.Equals(right);

    public static bool operator !=(PosixTime left, PosixTime right) => !left.Equals(right);

    public bool Equals(PosixTime other) => _sec == other._sec && _nsec == other._nsec;

    public override bool Equals(object? obj) => obj is PosixTime other && Equals(other);

    public override int GetHashCode() => HashCode.Combine(_sec, _nsec);
}

public static partial class Posix
{
    // fchmodat2 (Linux 6.6): the same number on x86_64 and asm-generic.
    private const long SYS_fchmodat2 = 452;

    // Set once fchmodat2 answers ENOSYS (kernel older than 6.6): chmod then goes through /proc/self/fd/N.
    private static volatile bool s_noFchmodat2;

    /// <summary>
    /// Sets the permission bits of what <paramref name="fd"/> (O_PATH or not) refers to:
    /// fchmodat2(fd, "", mode, AT_EMPTY_PATH), which glibc 2.36's fchmodat cannot do (it refuses
    /// AT_EMPTY_PATH), falling back to chmod("/proc/self/fd/N") on kernels before 6.6. A symlink's
    /// own fd is <see cref="Errno.EOPNOTSUPP"/> (Linux symlink modes are fixed). Filtering
    /// setuid/setgid/sticky bits is the caller's policy.
    /// </summary>
    public static unsafe Errno Chmod(SafeFd fd, uint mode)
    {
        using var h = new Held(fd);
        if (!h.Ok)
        {
            return Errno.EBADF;
        }

        long rc;
        if (!s_noFchmodat2)
        {
            // safe because: Empty is a NUL-terminated literal in the image, pinned for the call.
            fixed (byte* p = Empty)
            {
                while ((rc = syscall_fchmodat2(SYS_fchmodat2, h.Fd, p, mode, AT_EMPTY_PATH)) < 0 && LastErrno() == Errno.EINTR)
                {
                }
            }

            if (rc == 0)
            {
                return Errno.OK;
            }

            if (LastErrno() != Errno.ENOSYS)
            {
                return LastErrno();
            }

            s_noFchmodat2 = true;
        }

        Span<byte> path = stackalloc byte[ProcFdPathSize];
        ProcFdPath(h.Fd, path);
        // safe because: path is a NUL-terminated stack buffer that outlives the call.
        fixed (byte* p = path)
        {
            while ((rc = fchmodat(AT_FDCWD, p, mode, 0)) < 0 && LastErrno() == Errno.EINTR)
            {
            }
        }

        return rc < 0 ? LastErrno() : Errno.OK;
    }

    /// <summary>
    /// fchownat(fd, "", uid, gid, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW): owner and group of what the fd
    /// refers to (a symlink's own fd changes the symlink). <see cref="NoChange"/> leaves one as it is.
    /// </summary>
    public static unsafe Errno Chown(SafeFd fd, uint uid, uint gid)
    {
        using var h = new Held(fd);
        if (!h.Ok)
        {
            return Errno.EBADF;
        }

        int rc;
        // safe because: Empty is a NUL-terminated literal in the image, pinned for the call.
        fixed (byte* p = Empty)
        {
            while ((rc = fchownat(h.Fd, p, uid, gid, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW)) < 0 && LastErrno() == Errno.EINTR)
            {
            }
        }

        return rc < 0 ? LastErrno() : Errno.OK;
    }

    /// <summary>
    /// utimensat(fd, "", {atime, mtime}, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW): access and modification
    /// times of what the fd refers to; <see cref="PosixTime.Now"/> and <see cref="PosixTime.Omit"/> as in utimensat(2).
    /// </summary>
    public static unsafe Errno SetTimes(SafeFd fd, PosixTime atime, PosixTime mtime)
    {
        using var h = new Held(fd);
        if (!h.Ok)
        {
            return Errno.EBADF;
        }

        var times = stackalloc PosixTime[2];
        times[0] = atime;
        times[1] = mtime;
        int rc;
        // safe because: Empty is a NUL-terminated literal in the image and times a two-element stack array, as utimensat reads.
        fixed (byte* p = Empty)
        {
            while ((rc = utimensat(h.Fd, p, times, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW)) < 0 && LastErrno() == Errno.EINTR)
            {
            }
        }

        return rc < 0 ? LastErrno() : Errno.OK;
    }

    [LibraryImport("libc", EntryPoint = "syscall", SetLastError = true)]
    private static unsafe partial long syscall_fchmodat2(long number, int dirfd, byte* path, uint mode, int flags);

    [LibraryImport("libc", SetLastError = true)]
    private static unsafe partial int fchmodat(int dirfd, byte* path, uint mode, int flags);

    [LibraryImport("libc", SetLastError = true)]
    private static unsafe partial int fchownat(int dirfd, byte* path, uint owner, uint group, int flags);

    [LibraryImport("libc", SetLastError = true)]
    private static unsafe partial int utimensat(int dirfd, byte* path, PosixTime* times, int flags);
}
