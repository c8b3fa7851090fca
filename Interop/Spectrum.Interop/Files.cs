using System.Runtime.InteropServices;
using System.Text;

namespace Spectrum.Interop;

/// <summary>What identifies a file on the host: device, inode and, where the filesystem has one, a file handle.</summary>
public readonly record struct FileIdentity(ulong Dev, ulong Ino, int HandleType, byte[]? Handle)
{
    /// <summary>The handle as <c>type:hex</c>, or null.</summary>
    public string? HandleText => Handle is null ? null : $"{HandleType}:{Convert.ToHexStringLower(Handle)}";

    /// <summary>Same file: same dev and ino, and the same handle when both have one (the handle carries the generation, so a reused inode number differs).</summary>
    public bool SameFileAs(FileIdentity other) =>
        Dev == other.Dev && Ino == other.Ino
        && (Handle is null || other.Handle is null || (HandleType == other.HandleType && Handle.AsSpan().SequenceEqual(other.Handle)));
}

/// <summary>Type and owner of a file, from statx.</summary>
public readonly record struct FileStat(ulong Dev, ulong Ino, uint Mode, uint Uid, uint Gid, ulong Size)
{
    private const uint S_IFMT = 0xF000;

    public bool IsDirectory => (Mode & S_IFMT) == 0x4000;

    public bool IsRegular => (Mode & S_IFMT) == 0x8000;

    public bool IsSymlink => (Mode & S_IFMT) == 0xA000;
}

/// <summary>
/// Path resolution that never trusts a path string: everything is resolved below an O_PATH
/// directory fd with openat2(RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV), and
/// symlinks are never followed.
/// </summary>
public static class Files
{
    /// <summary>Opens a directory (absolute path, from the admin's configuration) as an O_PATH fd.</summary>
    public static SafeFd OpenDirectoryPath(string absolutePath)
    {
        var fd = Libc.openat(Libc.AT_FDCWD, absolutePath, Libc.O_PATH | Libc.O_DIRECTORY | Libc.O_CLOEXEC, 0);
        return fd >= 0 ? new SafeFd(fd) : throw Fail("open", absolutePath);
    }

    /// <summary>
    /// Opens <paramref name="relativePath"/> below <paramref name="root"/> as O_PATH, refusing to
    /// leave the root, cross a mount, or follow any symlink (the last component may be a symlink
    /// itself: it is opened, not followed).
    /// </summary>
    public static unsafe SafeFd OpenBeneath(SafeFd root, string relativePath)
    {
        var how = new Libc.OpenHow
        {
            Flags = (ulong)(Libc.O_PATH | Libc.O_NOFOLLOW | Libc.O_CLOEXEC),
            Resolve = Libc.RESOLVE_BENEATH | Libc.RESOLVE_NO_MAGICLINKS | Libc.RESOLVE_NO_XDEV | Libc.RESOLVE_NO_SYMLINKS,
        };
        var bytes = Encoding.UTF8.GetBytes(relativePath + "\0");
        var added = false;
        try
        {
            root.DangerousAddRef(ref added);
            for (var attempt = 0; ; attempt++)
            {
                long fd;
                // safe because: bytes is pinned for the call and NUL-terminated; how lives on this stack frame.
                fixed (byte* p = bytes)
                {
                    fd = Libc.syscall(Libc.SYS_openat2, (int)root.DangerousGetHandle(), p, &how, (nuint)sizeof(Libc.OpenHow));
                }

                if (fd >= 0)
                {
                    return new SafeFd((int)fd);
                }

                var errno = (Errno)Marshal.GetLastPInvokeError();
                // openat2 returns EAGAIN when a concurrent rename makes RESOLVE_BENEATH unable to prove containment.
                if ((errno == Errno.EAGAIN || errno == Errno.EINTR) && attempt < 16)
                {
                    continue;
                }

                throw new SysCallException("openat2", errno, relativePath);
            }
        }
        finally
        {
            if (added)
            {
                root.DangerousRelease();
            }
        }
    }

    /// <summary>statx of an open fd (AT_EMPTY_PATH).</summary>
    public static unsafe FileStat Stat(SafeFd fd)
    {
        Libc.Statx buf;
        var added = false;
        try
        {
            fd.DangerousAddRef(ref added);
            // safe because: buf is a stack local of the exact size statx writes (256 bytes).
            var rc = Libc.statx((int)fd.DangerousGetHandle(), "", Libc.AT_EMPTY_PATH | Libc.AT_SYMLINK_NOFOLLOW, 0xFFF, &buf);
            if (rc != 0)
            {
                throw Fail("statx", null);
            }
        }
        finally
        {
            if (added)
            {
                fd.DangerousRelease();
            }
        }

        var dev = ((ulong)buf.DevMajor << 32) | buf.DevMinor;
        return new FileStat(dev, buf.Ino, buf.Mode, buf.Uid, buf.Gid, buf.Size);
    }

    /// <summary>statx of an absolute path, without following a final symlink.</summary>
    public static unsafe FileStat Stat(string absolutePath)
    {
        Libc.Statx buf;
        // safe because: buf is a stack local of the exact size statx writes (256 bytes).
        var rc = Libc.statx(Libc.AT_FDCWD, absolutePath, Libc.AT_SYMLINK_NOFOLLOW, 0xFFF, &buf);
        if (rc != 0)
        {
            throw Fail("statx", absolutePath);
        }

        var dev = ((ulong)buf.DevMajor << 32) | buf.DevMinor;
        return new FileStat(dev, buf.Ino, buf.Mode, buf.Uid, buf.Gid, buf.Size);
    }

    /// <summary>Device, inode and file handle of an open fd.</summary>
    public static FileIdentity Identify(SafeFd fd)
    {
        var stat = Stat(fd);
        Span<byte> handle = stackalloc byte[Posix.MaxHandleSize];
        // EOPNOTSUPP: the filesystem has no handles; dev+ino still identify the file.
        return Posix.GetHandle(fd, handle, out var type, out var length) == Errno.OK
            ? new FileIdentity(stat.Dev, stat.Ino, type, handle[..length].ToArray())
            : new FileIdentity(stat.Dev, stat.Ino, 0, null);
    }

    /// <summary>Renames without replacing an existing target (renameat2 RENAME_NOREPLACE): atomic create-once.</summary>
    public static void RenameNoReplace(string from, string to)
    {
        if (Libc.renameat2(Libc.AT_FDCWD, from, Libc.AT_FDCWD, to, Libc.RENAME_NOREPLACE) != 0)
        {
            throw Fail("renameat2", to);
        }
    }

    /// <summary>The effective uid of this process.</summary>
    public static uint EffectiveUid => Libc.geteuid();

    private static SysCallException Fail(string call, string? subject) =>
        new(call, (Errno)Marshal.GetLastPInvokeError(), subject);
}
