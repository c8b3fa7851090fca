using System.Runtime.InteropServices;

namespace Spectrum.Interop;

/// <summary>mount(2) and umount2(2), and the liveness probe that tells a dead FUSE mount.</summary>
public static partial class Mount
{
    /// <summary>MS_RDONLY: mount read-only.</summary>
    public const ulong MS_RDONLY = 1;

    /// <summary>MS_NOSUID: setuid bits are ignored below the mount.</summary>
    public const ulong MS_NOSUID = 2;

    /// <summary>MS_NODEV: device nodes cannot be opened below the mount.</summary>
    public const ulong MS_NODEV = 4;

    /// <summary>MS_NOEXEC: nothing below the mount may be executed.</summary>
    public const ulong MS_NOEXEC = 8;

    /// <summary>MNT_DETACH: lazy unmount; the mount vanishes now, open files keep it alive.</summary>
    public const int MNT_DETACH = 2;

    /// <summary>UMOUNT_NOFOLLOW: do not follow a symlink at the target.</summary>
    public const int UMOUNT_NOFOLLOW = 8;

    /// <summary>mount(2); throws <see cref="SysCallException"/> on failure.</summary>
    public static void MountFilesystem(string source, string target, string fsType, ulong flags, string data)
    {
        if (mount(source, target, fsType, (nuint)flags, data) != 0)
        {
            throw new SysCallException("mount", (Errno)Marshal.GetLastPInvokeError(), target);
        }
    }

    /// <summary>umount2(2) with <paramref name="flags"/> (e.g. <see cref="MNT_DETACH"/>); returns the errno.</summary>
    public static Errno Unmount(string target, int flags)
    {
        while (true)
        {
            if (umount2(target, flags) == 0)
            {
                return Errno.OK;
            }

            var errno = (Errno)Marshal.GetLastPInvokeError();
            if (errno != Errno.EINTR)
            {
                return errno;
            }
        }
    }

    /// <summary>
    /// statx of <paramref name="path"/> without following a final symlink; returns only the errno.
    /// A FUSE mount whose server is gone answers ENOTCONN.
    /// </summary>
    public static unsafe Errno Probe(string path)
    {
        // struct statx is 256 bytes; only the call's success matters here.
        var buffer = stackalloc byte[256];
        // AT_STATX_FORCE_SYNC with STATX_BASIC_STATS: a FUSE mount must really be asked; with
        // nothing requested the kernel answers a dead mount's root from its cache.
        // safe because: buffer is a 256-byte stack block, the size of struct statx.
        var rc = statx(-100 /* AT_FDCWD */, path, 0x100 /* AT_SYMLINK_NOFOLLOW */ | 0x2000 /* AT_STATX_FORCE_SYNC */, 0x7FF, buffer);
        return rc == 0 ? Errno.OK : (Errno)Marshal.GetLastPInvokeError();
    }

    [LibraryImport("libc", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int mount(string source, string target, string fsType, nuint flags, string data);

    [LibraryImport("libc", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int umount2(string target, int flags);

    [LibraryImport("libc", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static unsafe partial int statx(int dirfd, string path, int flags, uint mask, byte* buffer);
}
