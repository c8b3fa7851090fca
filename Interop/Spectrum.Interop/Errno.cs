namespace Spectrum.Interop;

/// <summary>Linux errno values the project names (x86_64 and aarch64 agree on these).</summary>
public enum Errno
{
    OK = 0,
    EPERM = 1,
    ENOENT = 2,
    EINTR = 4,
    EIO = 5,
    EBADF = 9,
    EAGAIN = 11,
    ENOMEM = 12,
    EACCES = 13,
    EEXIST = 17,
    EXDEV = 18,
    ENODEV = 19,
    ENOTDIR = 20,
    EISDIR = 21,
    EINVAL = 22,
    ENAMETOOLONG = 36,
    ENOSYS = 38,
    ELOOP = 40,
    EOPNOTSUPP = 95,

    // Added for the data path (Posix*.cs, the FUSE view): values from <asm-generic/errno*.h>.
    ESRCH = 3,
    ENXIO = 6,
    E2BIG = 7,
    EFAULT = 14,
    EBUSY = 16,
    ENFILE = 23,
    EMFILE = 24,
    ENOTTY = 25,
    ETXTBSY = 26,
    EFBIG = 27,
    ENOSPC = 28,
    ESPIPE = 29,
    EROFS = 30,
    EMLINK = 31,
    ERANGE = 34,
    EDEADLK = 35,
    ENOLCK = 37,
    ENOTEMPTY = 39,
    ENODATA = 61,
    EOVERFLOW = 75,
    ENOTCONN = 107,
    ETIMEDOUT = 110,
    ESTALE = 116,
    EDQUOT = 122,
    ECANCELED = 125,
}

/// <summary>
/// The errno names Linux gives a value another name already has. Kept out of <see cref="Errno"/>:
/// an enum with two names for one value prints either (which one depends on the enum's other
/// members), and logs and <see cref="SysCallException"/> must print the primary name.
/// </summary>
public static class ErrnoAliases
{
    /// <summary>Linux defines ENOTSUP as EOPNOTSUPP.</summary>
    public const Errno ENOTSUP = Errno.EOPNOTSUPP;

    /// <summary>Linux defines EWOULDBLOCK as EAGAIN.</summary>
    public const Errno EWOULDBLOCK = Errno.EAGAIN;
}

/// <summary>What an errno says about the call that failed.</summary>
public static class ErrnoFacts
{
    /// <summary>
    /// Errors that say nothing about the object asked for, only about this moment: the process is
    /// short of fds or memory, or the call was interrupted or raced with a rename. A grant must
    /// never be recorded stale, nor a request answered 500, because of one of these.
    /// </summary>
    public static bool IsTransient(this Errno errno) =>
        errno is Errno.EMFILE or Errno.ENFILE or Errno.ENOMEM or Errno.EINTR or Errno.EAGAIN;
}

/// <summary>A failed system call: the call's name, the errno, and what it was about.</summary>
public sealed class SysCallException(string call, Errno errno, string? subject = null)
    : IOException($"{call}{(subject is null ? "" : $" '{subject}'")}: {Describe(errno)}")
{
    public string Call { get; } = call;

    public Errno Errno { get; } = errno;

    private static string Describe(Errno errno) => errno switch
    {
        Errno.ENOENT => "no such file or directory",
        Errno.EACCES => "permission denied",
        Errno.EPERM => "operation not permitted",
        Errno.ELOOP => "a symlink was met where none may be followed",
        Errno.EXDEV => "the path crosses a mount point",
        Errno.ENOTDIR => "not a directory",
        Errno.EEXIST => "already exists",
        Errno.ENAMETOOLONG => "name too long",
        Errno.EAGAIN => "resolution raced with a rename; try again",
        _ => errno.ToString(),
    };
}
