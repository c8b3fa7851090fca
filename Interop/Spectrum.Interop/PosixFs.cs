using System.Runtime.InteropServices;

namespace Spectrum.Interop;

/// <summary>struct statfs from &lt;sys/statfs.h&gt; (120 bytes on 64-bit Linux), filled in place by <see cref="Posix.Statfs"/>.</summary>
[StructLayout(LayoutKind.Explicit, Size = 120)]
public struct StatfsResult
{
    [FieldOffset(0)] private long _type;
    [FieldOffset(8)] private long _bsize;
    [FieldOffset(16)] private ulong _blocks;
    [FieldOffset(24)] private ulong _bfree;
    [FieldOffset(32)] private ulong _bavail;
    [FieldOffset(40)] private ulong _files;
    [FieldOffset(48)] private ulong _ffree;
    [FieldOffset(56)] private int _fsid0;
    [FieldOffset(60)] private int _fsid1;
    [FieldOffset(64)] private long _namelen;
    [FieldOffset(72)] private long _frsize;
    [FieldOffset(80)] private long _flags;

    /// <summary>f_type: the filesystem's magic (0xEF53 ext4, 0x01021994 tmpfs, ...).</summary>
    public readonly long Type => _type;

    /// <summary>f_bsize: the optimal transfer block size.</summary>
    public readonly long Bsize => _bsize;

    /// <summary>f_blocks: total data blocks, in <see cref="Frsize"/> units.</summary>
    public readonly ulong Blocks => _blocks;

    /// <summary>f_bfree: free blocks.</summary>
    public readonly ulong Bfree => _bfree;

    /// <summary>f_bavail: free blocks available to an unprivileged user.</summary>
    public readonly ulong Bavail => _bavail;

    /// <summary>f_files: total inodes.</summary>
    public readonly ulong Files => _files;

    /// <summary>f_ffree: free inodes.</summary>
    public readonly ulong Ffree => _ffree;

    /// <summary>f_fsid.</summary>
    public readonly ulong Fsid => ((ulong)(uint)_fsid1 << 32) | (uint)_fsid0;

    /// <summary>f_namelen: the longest file name.</summary>
    public readonly long Namelen => _namelen;

    /// <summary>f_frsize: the fragment size, the unit of the block counts.</summary>
    public readonly long Frsize => _frsize;

    /// <summary>f_flags: ST_* mount flags (ST_RDONLY 1, ST_NOSUID 2, ...).</summary>
    public readonly long Flags => _flags;
}

public static partial class Posix
{
    /// <summary>fstatfs(fd): the filesystem holding what the fd refers to (O_PATH fds work).</summary>
    public static unsafe Errno Statfs(SafeFd fd, out StatfsResult stat)
    {
        stat = default;
        using var h = new Held(fd);
        if (!h.Ok)
        {
            return Errno.EBADF;
        }

        int rc;
        // safe because: stat is the caller's 120-byte struct statfs, exactly what fstatfs writes.
        fixed (StatfsResult* p = &stat)
        {
            while ((rc = fstatfs(h.Fd, p)) < 0 && LastErrno() == Errno.EINTR)
            {
            }
        }

        return rc < 0 ? LastErrno() : Errno.OK;
    }

    [LibraryImport("libc", SetLastError = true)]
    private static unsafe partial int fstatfs(int fd, StatfsResult* buf);
}
