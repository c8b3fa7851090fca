namespace Spectrum.Interop;

/// <summary>
/// Errno values the FUSE layer names that <see cref="Errno"/> does not (yet) list. They are
/// <see cref="Errno"/> values all the same (x86_64 and aarch64 agree on these): any errno a
/// syscall or a filesystem produces travels as an <see cref="Errno"/>, named or not.
/// </summary>
public static class FuseErrno
{
    public const Errno E2BIG = (Errno)7;
    public const Errno EFBIG = (Errno)27;
    public const Errno ENOSPC = (Errno)28;
    public const Errno EROFS = (Errno)30;
    public const Errno ERANGE = (Errno)34;
    public const Errno EDEADLK = (Errno)35;
    public const Errno ENOLCK = (Errno)37;
    public const Errno ENOTEMPTY = (Errno)39;
    public const Errno ENODATA = (Errno)61;
    public const Errno EPROTO = (Errno)71;
    public const Errno EOVERFLOW = (Errno)75;
    public const Errno ECONNABORTED = (Errno)103;
    public const Errno ENOTCONN = (Errno)107;
    public const Errno ESTALE = (Errno)116;
}
