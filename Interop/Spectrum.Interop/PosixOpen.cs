using System.Runtime.InteropServices;

namespace Spectrum.Interop;

/// <summary>open(2) flags (x86_64 values; <c>O_DIRECTORY</c>, <c>O_NOFOLLOW</c>, <c>O_DIRECT</c> and <c>O_LARGEFILE</c> differ on aarch64).</summary>
[Flags]
public enum OpenFlags
{
    /// <summary>O_RDONLY.</summary>
    ReadOnly = 0,

    /// <summary>O_WRONLY.</summary>
    WriteOnly = 0x1,

    /// <summary>O_RDWR.</summary>
    ReadWrite = 0x2,

    /// <summary>O_ACCMODE: the mask of the three access modes above.</summary>
    AccessModeMask = 0x3,

    /// <summary>O_CREAT.</summary>
    Create = 0x40,

    /// <summary>O_EXCL.</summary>
    Exclusive = 0x80,

    /// <summary>O_NOCTTY.</summary>
    NoControllingTerminal = 0x100,

    /// <summary>O_TRUNC.</summary>
    Truncate = 0x200,

    /// <summary>O_APPEND.</summary>
    Append = 0x400,

    /// <summary>O_NONBLOCK.</summary>
    NonBlock = 0x800,

    /// <summary>O_DSYNC.</summary>
    DataSync = 0x1000,

    /// <summary>O_DIRECT.</summary>
    Direct = 0x4000,

    /// <summary>O_LARGEFILE.</summary>
    LargeFile = 0x8000,

    /// <summary>O_DIRECTORY.</summary>
    Directory = 0x10000,

    /// <summary>O_NOFOLLOW.</summary>
    NoFollow = 0x20000,

    /// <summary>O_NOATIME.</summary>
    NoAccessTime = 0x40000,

    /// <summary>O_CLOEXEC.</summary>
    CloseOnExec = 0x80000,

    /// <summary>O_SYNC (includes O_DSYNC).</summary>
    Sync = 0x101000,

    /// <summary>O_PATH.</summary>
    Path = 0x200000,

    /// <summary>O_TMPFILE (includes O_DIRECTORY).</summary>
    TmpFile = 0x410000,
}

/// <summary>openat2(2) <c>RESOLVE_*</c> flags.</summary>
[Flags]
public enum ResolveFlags : ulong
{
    None = 0,

    /// <summary>RESOLVE_NO_XDEV: refuse to cross a mount point (EXDEV).</summary>
    NoXdev = 0x01,

    /// <summary>RESOLVE_NO_MAGICLINKS: refuse procfs magic links such as /proc/self/root (ELOOP).</summary>
    NoMagicLinks = 0x02,

    /// <summary>RESOLVE_NO_SYMLINKS: refuse every symlink, the last component included (ELOOP).</summary>
    NoSymlinks = 0x04,

    /// <summary>RESOLVE_BENEATH: refuse to leave the starting directory by "..", an absolute path or an absolute symlink (EXDEV).</summary>
    Beneath = 0x08,

    /// <summary>RESOLVE_IN_ROOT: treat the starting directory as "/" (not used by the broker; Beneath refuses instead).</summary>
    InRoot = 0x10,

    /// <summary>RESOLVE_CACHED: only from the dentry cache (EAGAIN otherwise).</summary>
    Cached = 0x20,
}

public static partial class Posix
{
    /// <summary>The containment every <see cref="OpenBeneath(SafeFd, ReadOnlySpan{byte}, OpenFlags, uint, ResolveFlags, out SafeFd?)"/> applies whatever the caller asks.</summary>
    public const ResolveFlags ContainmentFloor = ResolveFlags.Beneath | ResolveFlags.NoMagicLinks | ResolveFlags.NoXdev;

    // x86_64 and aarch64 share the asm-generic number for openat2 (437); open_how is 24 bytes.
    private const long SYS_openat2 = 437;

    // openat2 answers EAGAIN when a concurrent rename stops it proving containment; give up after this many.
    private const int Openat2Attempts = 16;

    /// <summary>
    /// openat(dir, name, flags | O_NOFOLLOW | O_CLOEXEC, mode): one component below
    /// <paramref name="dir"/>, never following a symlink (with <see cref="OpenFlags.Path"/> a symlink is
    /// opened itself; otherwise it is <see cref="Errno.ELOOP"/>). The per-component lookup.
    /// </summary>
    public static unsafe Errno OpenAt(SafeFd dir, ReadOnlySpan<byte> name, OpenFlags flags, uint mode, out SafeFd? fd)
    {
        fd = null;
        Span<byte> n = stackalloc byte[NameMax + 1];
        var error = CopyName(name, n);
        if (error != Errno.OK)
        {
            return error;
        }

        using var d = new Held(dir);
        if (!d.Ok)
        {
            return Errno.EBADF;
        }

        var all = (int)(flags | OpenFlags.NoFollow | OpenFlags.CloseOnExec);
        int rc;
        // safe because: n is a NUL-terminated stack buffer that outlives the call.
        fixed (byte* p = n)
        {
            while ((rc = openat(d.Fd, p, all, mode)) < 0 && LastErrno() == Errno.EINTR)
            {
            }
        }

        if (rc < 0)
        {
            return LastErrno();
        }

        fd = new SafeFd(rc);
        return Errno.OK;
    }

    /// <summary>
    /// openat2 below <paramref name="root"/> refusing every symlink: <see cref="ContainmentFloor"/> plus
    /// <see cref="ResolveFlags.NoSymlinks"/>, with O_NOFOLLOW and O_CLOEXEC.
    /// </summary>
    public static Errno OpenBeneath(SafeFd root, ReadOnlySpan<byte> path, OpenFlags flags, uint mode, out SafeFd? fd) =>
        OpenBeneath(root, path, flags, mode, ResolveFlags.NoSymlinks, out fd);

    /// <summary>
    /// openat2(root, path, {flags | O_NOFOLLOW | O_CLOEXEC, mode, resolve | <see cref="ContainmentFloor"/>}):
    /// a relative path below <paramref name="root"/>. Leaving the root ("..", absolute paths or
    /// symlinks) is <see cref="Errno.EXDEV"/>, crossing a mount is <see cref="Errno.EXDEV"/>, a magic
    /// link is <see cref="Errno.ELOOP"/>; with <see cref="ResolveFlags.NoSymlinks"/> any symlink is
    /// <see cref="Errno.ELOOP"/>. EINTR and the rename-race EAGAIN are retried.
    /// </summary>
    public static unsafe Errno OpenBeneath(SafeFd root, ReadOnlySpan<byte> path, OpenFlags flags, uint mode, ResolveFlags resolve, out SafeFd? fd)
    {
        fd = null;
        Span<byte> p = stackalloc byte[PathMax];
        var error = CopyPath(path, p);
        if (error != Errno.OK)
        {
            return error;
        }

        using var r = new Held(root);
        if (!r.Ok)
        {
            return Errno.EBADF;
        }

        var how = new Libc.OpenHow
        {
            Flags = (ulong)(uint)(flags | OpenFlags.NoFollow | OpenFlags.CloseOnExec),
            // O_CREAT and O_TMPFILE take a mode; the kernel refuses a mode with any other open.
            Mode = (flags & (OpenFlags.Create | OpenFlags.TmpFile)) != 0 ? mode : 0,
            Resolve = (ulong)(resolve | ContainmentFloor),
        };
        long rc = -1;
        // safe because: p is a NUL-terminated stack buffer and how a stack local, both outliving the call; the size passed is how's.
        fixed (byte* path0 = p)
        {
            for (var attempt = 0; attempt < Openat2Attempts; attempt++)
            {
                rc = Libc.syscall(SYS_openat2, r.Fd, path0, &how, (nuint)sizeof(Libc.OpenHow));
                if (rc >= 0 || (LastErrno() != Errno.EINTR && LastErrno() != Errno.EAGAIN))
                {
                    break;
                }
            }
        }

        if (rc < 0)
        {
            return LastErrno();
        }

        fd = new SafeFd((int)rc);
        return Errno.OK;
    }

    /// <summary>
    /// Reopens what an O_PATH fd refers to with real access (<paramref name="flags"/>; O_CREAT, O_EXCL
    /// and O_NOFOLLOW are dropped, O_CLOEXEC added) by opening <c>/proc/self/fd/N</c>, as virtiofsd
    /// does. That path is a procfs magic link, but it is the broker's own fd table, not a guest-supplied
    /// path: it reopens exactly the inode the fd holds, with no lookup by name, so no rename or symlink
    /// swap can redirect it. Fails with <see cref="Errno.ELOOP"/> if the fd is a symlink, and with
    /// <see cref="Errno.ENOENT"/> if /proc is not mounted.
    /// </summary>
    public static unsafe Errno Reopen(SafeFd opath, OpenFlags flags, out SafeFd? fd)
    {
        fd = null;
        using var h = new Held(opath);
        if (!h.Ok)
        {
            return Errno.EBADF;
        }

        Span<byte> path = stackalloc byte[ProcFdPathSize];
        ProcFdPath(h.Fd, path);
        const OpenFlags Dropped = OpenFlags.Create | OpenFlags.Exclusive | OpenFlags.NoFollow | (OpenFlags.TmpFile & ~OpenFlags.Directory);
        var all = (int)((flags & ~Dropped) | OpenFlags.CloseOnExec);
        int rc;
        // safe because: path is a NUL-terminated stack buffer that outlives the call.
        fixed (byte* p = path)
        {
            while ((rc = openat(AT_FDCWD, p, all, 0)) < 0 && LastErrno() == Errno.EINTR)
            {
            }
        }

        if (rc < 0)
        {
            return LastErrno();
        }

        fd = new SafeFd(rc);
        return Errno.OK;
    }

    [LibraryImport("libc", SetLastError = true)]
    private static unsafe partial int openat(int dirfd, byte* path, int flags, uint mode);
}
