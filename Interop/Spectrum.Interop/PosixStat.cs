using System.Runtime.InteropServices;

namespace Spectrum.Interop;

/// <summary>
/// struct statx from &lt;linux/stat.h&gt; (256 bytes), filled in place by <see cref="Posix.Stat"/> and
/// <see cref="Posix.StatAt"/>. Fields not in <see cref="Mask"/> are zero.
/// </summary>
[StructLayout(LayoutKind.Explicit, Size = 256)]
public struct StatxResult
{
    private const uint S_IFMT = 0xF000;

    [FieldOffset(0)] private uint _mask;
    [FieldOffset(4)] private uint _blksize;
    [FieldOffset(8)] private ulong _attributes;
    [FieldOffset(16)] private uint _nlink;
    [FieldOffset(20)] private uint _uid;
    [FieldOffset(24)] private uint _gid;
    [FieldOffset(28)] private ushort _mode;
    [FieldOffset(32)] private ulong _ino;
    [FieldOffset(40)] private ulong _size;
    [FieldOffset(48)] private ulong _blocks;
    [FieldOffset(56)] private ulong _attributesMask;
    [FieldOffset(64)] private long _atimeSec;
    [FieldOffset(72)] private uint _atimeNsec;
    [FieldOffset(80)] private long _btimeSec;
    [FieldOffset(88)] private uint _btimeNsec;
    [FieldOffset(96)] private long _ctimeSec;
    [FieldOffset(104)] private uint _ctimeNsec;
    [FieldOffset(112)] private long _mtimeSec;
    [FieldOffset(120)] private uint _mtimeNsec;
    [FieldOffset(128)] private uint _rdevMajor;
    [FieldOffset(132)] private uint _rdevMinor;
    [FieldOffset(136)] private uint _devMajor;
    [FieldOffset(140)] private uint _devMinor;
    [FieldOffset(144)] private ulong _mntId;

    /// <summary>stx_mask: which fields the filesystem filled (STATX_* bits).</summary>
    public readonly uint Mask => _mask;

    /// <summary>stx_blksize: the preferred I/O size.</summary>
    public readonly uint Blksize => _blksize;

    /// <summary>stx_attributes (STATX_ATTR_* bits: immutable, append-only, ...).</summary>
    public readonly ulong Attributes => _attributes;

    public readonly uint Nlink => _nlink;

    public readonly uint Uid => _uid;

    public readonly uint Gid => _gid;

    /// <summary>stx_mode: file type and permission bits.</summary>
    public readonly uint Mode => _mode;

    public readonly ulong Ino => _ino;

    public readonly ulong Size => _size;

    /// <summary>stx_blocks: 512-byte blocks allocated.</summary>
    public readonly ulong Blocks => _blocks;

    public readonly long AtimeSec => _atimeSec;

    public readonly uint AtimeNsec => _atimeNsec;

    /// <summary>Birth time, valid when <see cref="Mask"/> has STATX_BTIME (0x800).</summary>
    public readonly long BtimeSec => _btimeSec;

    public readonly uint BtimeNsec => _btimeNsec;

    public readonly long CtimeSec => _ctimeSec;

    public readonly uint CtimeNsec => _ctimeNsec;

    public readonly long MtimeSec => _mtimeSec;

    public readonly uint MtimeNsec => _mtimeNsec;

    public readonly uint RdevMajor => _rdevMajor;

    public readonly uint RdevMinor => _rdevMinor;

    public readonly uint DevMajor => _devMajor;

    public readonly uint DevMinor => _devMinor;

    /// <summary>
    /// The containing device in the project's encoding, <c>(major &lt;&lt; 32) | minor</c>: equal to
    /// <see cref="FileIdentity.Dev"/> and <see cref="FileStat.Dev"/>, NOT glibc's st_dev.
    /// </summary>
    public readonly ulong Dev => ((ulong)_devMajor << 32) | _devMinor;

    /// <summary>
    /// The device a device node stands for, as glibc's st_rdev (makedev); its low 32 bits are the
    /// kernel's new_encode_dev, which is what fuse_attr.rdev carries.
    /// </summary>
    public readonly ulong Rdev => Posix.MakeDev(_rdevMajor, _rdevMinor);

    /// <summary>stx_mnt_id, valid when <see cref="Mask"/> has STATX_MNT_ID (0x1000).</summary>
    public readonly ulong MountId => _mntId;

    public readonly bool IsDirectory => (_mode & S_IFMT) == 0x4000;

    public readonly bool IsRegular => (_mode & S_IFMT) == 0x8000;

    public readonly bool IsSymlink => (_mode & S_IFMT) == 0xA000;
}

public static partial class Posix
{
    // STATX_BASIC_STATS | STATX_BTIME | STATX_MNT_ID.
    private const uint StatxMask = 0x7FF | 0x800 | 0x1000;

    /// <summary>glibc's makedev: the st_dev/st_rdev encoding of a major and minor number.</summary>
    public static ulong MakeDev(uint major, uint minor) =>
        ((ulong)(major & 0xFFFFF000) << 32) | ((ulong)(major & 0xFFF) << 8)
        | ((ulong)(minor & 0xFFFFFF00) << 12) | (minor & 0xFF);

    /// <summary>statx(fd, "", AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW): what the fd refers to (an O_PATH fd, a symlink's own fd, anything).</summary>
    public static unsafe Errno Stat(SafeFd fd, out StatxResult stat)
    {
        stat = default;
        using var h = new Held(fd);
        if (!h.Ok)
        {
            return Errno.EBADF;
        }

        int rc;
        // safe because: Empty is a NUL-terminated literal in the image; stat is the caller's 256-byte struct, exactly what statx writes.
        fixed (byte* p = Empty)
        fixed (StatxResult* buf = &stat)
        {
            while ((rc = statx(h.Fd, p, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW, StatxMask, buf)) < 0 && LastErrno() == Errno.EINTR)
            {
            }
        }

        return rc < 0 ? LastErrno() : Errno.OK;
    }

    /// <summary>statx(dir, name, AT_SYMLINK_NOFOLLOW): one component below <paramref name="dir"/>, a symlink stat'ed itself.</summary>
    public static unsafe Errno StatAt(SafeFd dir, ReadOnlySpan<byte> name, out StatxResult stat)
    {
        stat = default;
        Span<byte> n = stackalloc byte[NameMax + 1];
        var error = CopyName(name, n);
        if (error != Errno.OK)
        {
            return error;
        }

        using var h = new Held(dir);
        if (!h.Ok)
        {
            return Errno.EBADF;
        }

        int rc;
        // safe because: n is a NUL-terminated stack buffer; stat is the caller's 256-byte struct, exactly what statx writes.
        fixed (byte* p = n)
        fixed (StatxResult* buf = &stat)
        {
            while ((rc = statx(h.Fd, p, AT_SYMLINK_NOFOLLOW, StatxMask, buf)) < 0 && LastErrno() == Errno.EINTR)
            {
            }
        }

        return rc < 0 ? LastErrno() : Errno.OK;
    }

    [LibraryImport("libc", SetLastError = true)]
    private static unsafe partial int statx(int dirfd, byte* path, int flags, uint mask, StatxResult* buf);
}
