using System.Runtime.InteropServices;

namespace Spectrum.FuseFs;

// The structs of <linux/fuse.h>, field for field, in declaration order. Every struct is padded to
// a multiple of 8 by the header itself ("so 32bit userspace works under 64bit kernels"), so
// LayoutKind.Sequential reproduces the C layout; FuseStructLayoutTests compiles a C program
// against /usr/include/linux/fuse.h and compares every size and offset. Field names are the C
// names in PascalCase so that the test can pair them mechanically.
//
// Public ones are what an IFuseFileSystem fills or reads; the rest are the session's business.

/// <summary>struct fuse_attr: the attributes of a node, as the kernel caches them.</summary>
[StructLayout(LayoutKind.Sequential)]
public struct FuseAttr
{
    public ulong Ino;
    public ulong Size;
    /// <summary>Number of 512-byte blocks allocated.</summary>
    public ulong Blocks;
    public ulong Atime;
    public ulong Mtime;
    public ulong Ctime;
    public uint AtimeNsec;
    public uint MtimeNsec;
    public uint CtimeNsec;
    /// <summary>File type and permission bits (S_IFMT | 07777). The type must be valid or the kernel answers EIO.</summary>
    public uint Mode;
    public uint Nlink;
    public uint Uid;
    public uint Gid;
    public uint Rdev;
    public uint Blksize;
    /// <summary>FUSE_ATTR_* (submount, DAX); zero for ordinary nodes.</summary>
    public uint Flags;
}

/// <summary>
/// struct fuse_entry_out: the answer to LOOKUP, CREATE, MKDIR, MKNOD, SYMLINK, LINK and each
/// READDIRPLUS entry.
/// </summary>
/// <remarks>
/// A filesystem puts its own <b>node key</b> in <see cref="NodeId"/>; the session replaces it by
/// the kernel-visible node id (allocated by the session, never reused) before the reply leaves.
/// Each entry with a non-zero key handed to the session carries one reference on that key (see
/// <see cref="IFuseFileSystem.Forget"/>).
/// </remarks>
[StructLayout(LayoutKind.Sequential)]
public struct FuseEntryOut
{
    /// <summary>The filesystem's node key (0 with ENOENT: a negative entry).</summary>
    public ulong NodeId;
    /// <summary>Left 0: node ids are never reused, so nodeid:generation is unique with generation 0.</summary>
    public ulong Generation;
    public ulong EntryValid;
    public ulong AttrValid;
    public uint EntryValidNsec;
    public uint AttrValidNsec;
    public FuseAttr Attr;

    /// <summary>How long the kernel may cache the name → node binding (or a negative entry).</summary>
    public void SetEntryTimeout(TimeSpan timeout) => FuseTime.Split(timeout, out EntryValid, out EntryValidNsec);

    /// <summary>How long the kernel may cache <see cref="Attr"/>.</summary>
    public void SetAttrTimeout(TimeSpan timeout) => FuseTime.Split(timeout, out AttrValid, out AttrValidNsec);
}

/// <summary>struct fuse_attr_out: the answer to GETATTR and SETATTR.</summary>
[StructLayout(LayoutKind.Sequential)]
public struct FuseAttrOut
{
    public ulong AttrValid;
    public uint AttrValidNsec;
    public uint Dummy;
    public FuseAttr Attr;

    /// <summary>How long the kernel may cache <see cref="Attr"/>.</summary>
    public void SetAttrTimeout(TimeSpan timeout) => FuseTime.Split(timeout, out AttrValid, out AttrValidNsec);
}

/// <summary>struct fuse_setattr_in: what SETATTR changes; <see cref="Valid"/> says which fields count.</summary>
[StructLayout(LayoutKind.Sequential)]
public struct FuseSetAttrIn
{
    public FuseSetAttrValid Valid;
    public uint Padding;
    /// <summary>The open file's handle, when <see cref="FuseSetAttrValid.Fh"/> is set (ftruncate, futimens, fchmod).</summary>
    public ulong Fh;
    public ulong Size;
    public ulong LockOwner;
    public ulong Atime;
    public ulong Mtime;
    public ulong Ctime;
    public uint AtimeNsec;
    public uint MtimeNsec;
    public uint CtimeNsec;
    public uint Mode;
    public uint Unused4;
    public uint Uid;
    public uint Gid;
    public uint Unused5;
}

/// <summary>struct fuse_open_out: the answer to OPEN, OPENDIR and (with an entry) CREATE.</summary>
[StructLayout(LayoutKind.Sequential)]
public struct FuseOpenOut
{
    /// <summary>The filesystem's file handle; handed back in READ, WRITE, RELEASE and the rest.</summary>
    public ulong Fh;
    public FuseOpenFlags OpenFlags;
    /// <summary>With <see cref="FuseOpenFlags.Passthrough"/>: an id from <see cref="FuseSession.OpenBacking"/> (protocol 7.40).</summary>
    public int BackingId;
}

/// <summary>struct fuse_kstatfs: the answer to STATFS.</summary>
[StructLayout(LayoutKind.Sequential, Size = 80)]
public struct FuseKStatfs
{
    public ulong Blocks;
    public ulong Bfree;
    public ulong Bavail;
    public ulong Files;
    public ulong Ffree;
    public uint Bsize;
    public uint Namelen;
    public uint Frsize;
    public uint Padding;
    // uint32_t spare[6] completes the 80 bytes.
}

/// <summary>struct fuse_file_lock: a POSIX (or, with flock, a whole-file) lock.</summary>
[StructLayout(LayoutKind.Sequential)]
public struct FuseFileLock
{
    public ulong Start;
    /// <summary>Inclusive end; OFFSET_MAX (<c>long.MaxValue</c>) means "to the end of the file, however long".</summary>
    public ulong End;
    /// <summary>F_RDLCK (0), F_WRLCK (1) or F_UNLCK (2).</summary>
    public uint Type;
    /// <summary>The lock holder's tgid (for GETLK's answer).</summary>
    public uint Pid;
}

/// <summary>struct fuse_in_header: the first 40 bytes of every request.</summary>
[StructLayout(LayoutKind.Sequential)]
internal struct FuseInHeader
{
    public uint Len;
    public FuseOpcode Opcode;
    public ulong Unique;
    public ulong NodeId;
    public uint Uid;
    public uint Gid;
    public uint Pid;
    public ushort TotalExtlen;
    public ushort Padding;
}

/// <summary>struct fuse_out_header: the first 16 bytes of every reply and notification.</summary>
[StructLayout(LayoutKind.Sequential)]
internal struct FuseOutHeader
{
    public uint Len;
    /// <summary>Zero or a negative errno; for a notification, the notify code.</summary>
    public int Error;
    public ulong Unique;
}

[StructLayout(LayoutKind.Sequential)]
internal unsafe struct FuseInitIn
{
    public uint Major;
    public uint Minor;
    public uint MaxReadahead;
    public uint Flags;
    public uint Flags2;
    public fixed uint Unused[11];
}

[StructLayout(LayoutKind.Sequential)]
internal unsafe struct FuseInitOut
{
    public uint Major;
    public uint Minor;
    public uint MaxReadahead;
    public uint Flags;
    public ushort MaxBackground;
    public ushort CongestionThreshold;
    public uint MaxWrite;
    public uint TimeGran;
    public ushort MaxPages;
    public ushort MapAlignment;
    public uint Flags2;
    /// <summary>Protocol 7.40 (was unused[0]).</summary>
    public uint MaxStackDepth;
    public fixed uint Unused[6];
}

[StructLayout(LayoutKind.Sequential)]
internal struct FuseGetAttrIn
{
    public uint GetattrFlags;
    public uint Dummy;
    public ulong Fh;
}

[StructLayout(LayoutKind.Sequential)]
internal struct FuseOpenIn
{
    public uint Flags;
    public uint OpenFlags;
}

[StructLayout(LayoutKind.Sequential)]
internal struct FuseCreateIn
{
    public uint Flags;
    public uint Mode;
    public uint Umask;
    public uint OpenFlags;
}

[StructLayout(LayoutKind.Sequential)]
internal struct FuseReadIn
{
    public ulong Fh;
    public ulong Offset;
    public uint Size;
    public uint ReadFlags;
    public ulong LockOwner;
    public uint Flags;
    public uint Padding;
}

[StructLayout(LayoutKind.Sequential)]
internal struct FuseWriteIn
{
    public ulong Fh;
    public ulong Offset;
    public uint Size;
    public uint WriteFlags;
    public ulong LockOwner;
    public uint Flags;
    public uint Padding;
}

[StructLayout(LayoutKind.Sequential)]
internal struct FuseWriteOut
{
    public uint Size;
    public uint Padding;
}

[StructLayout(LayoutKind.Sequential)]
internal struct FuseReleaseIn
{
    public ulong Fh;
    public uint Flags;
    public uint ReleaseFlags;
    public ulong LockOwner;
}

[StructLayout(LayoutKind.Sequential)]
internal struct FuseFlushIn
{
    public ulong Fh;
    public uint Unused;
    public uint Padding;
    public ulong LockOwner;
}

[StructLayout(LayoutKind.Sequential)]
internal struct FuseFsyncIn
{
    public ulong Fh;
    public uint FsyncFlags;
    public uint Padding;
}

[StructLayout(LayoutKind.Sequential)]
internal struct FuseForgetIn
{
    public ulong Nlookup;
}

[StructLayout(LayoutKind.Sequential)]
internal struct FuseBatchForgetIn
{
    public uint Count;
    public uint Dummy;
}

[StructLayout(LayoutKind.Sequential)]
internal struct FuseForgetOne
{
    public ulong NodeId;
    public ulong Nlookup;
}

[StructLayout(LayoutKind.Sequential)]
internal struct FuseInterruptIn
{
    public ulong Unique;
}

[StructLayout(LayoutKind.Sequential)]
internal struct FuseMknodIn
{
    public uint Mode;
    public uint Rdev;
    public uint Umask;
    public uint Padding;
}

[StructLayout(LayoutKind.Sequential)]
internal struct FuseMkdirIn
{
    public uint Mode;
    public uint Umask;
}

[StructLayout(LayoutKind.Sequential)]
internal struct FuseRenameIn
{
    public ulong Newdir;
}

[StructLayout(LayoutKind.Sequential)]
internal struct FuseRename2In
{
    public ulong Newdir;
    public uint Flags;
    public uint Padding;
}

[StructLayout(LayoutKind.Sequential)]
internal struct FuseLinkIn
{
    public ulong Oldnodeid;
}

/// <summary>struct fuse_dirent without its name: ino, off, namelen, type, then the name padded to 8.</summary>
[StructLayout(LayoutKind.Sequential)]
internal struct FuseDirent
{
    public ulong Ino;
    public ulong Off;
    public uint Namelen;
    public uint Type;
}

/// <summary>struct fuse_direntplus without the dirent's name.</summary>
[StructLayout(LayoutKind.Sequential)]
internal struct FuseDirentplus
{
    public FuseEntryOut EntryOut;
    public FuseDirent Dirent;
}

[StructLayout(LayoutKind.Sequential)]
internal struct FuseStatfsOut
{
    public FuseKStatfs St;
}

[StructLayout(LayoutKind.Sequential)]
internal struct FuseAccessIn
{
    public uint Mask;
    public uint Padding;
}

/// <summary>struct fuse_setxattr_in; without FUSE_SETXATTR_EXT the kernel sends only the first 8 bytes (FUSE_COMPAT_SETXATTR_IN_SIZE).</summary>
[StructLayout(LayoutKind.Sequential)]
internal struct FuseSetxattrIn
{
    public uint Size;
    public uint Flags;
    public uint SetxattrFlags;
    public uint Padding;
}

[StructLayout(LayoutKind.Sequential)]
internal struct FuseGetxattrIn
{
    public uint Size;
    public uint Padding;
}

[StructLayout(LayoutKind.Sequential)]
internal struct FuseGetxattrOut
{
    public uint Size;
    public uint Padding;
}

[StructLayout(LayoutKind.Sequential)]
internal struct FuseLkIn
{
    public ulong Fh;
    public ulong Owner;
    public FuseFileLock Lk;
    public uint LkFlags;
    public uint Padding;
}

[StructLayout(LayoutKind.Sequential)]
internal struct FuseLkOut
{
    public FuseFileLock Lk;
}

[StructLayout(LayoutKind.Sequential)]
internal struct FuseFallocateIn
{
    public ulong Fh;
    public ulong Offset;
    public ulong Length;
    public uint Mode;
    public uint Padding;
}

[StructLayout(LayoutKind.Sequential)]
internal struct FuseLseekIn
{
    public ulong Fh;
    public ulong Offset;
    public uint Whence;
    public uint Padding;
}

[StructLayout(LayoutKind.Sequential)]
internal struct FuseLseekOut
{
    public ulong Offset;
}

[StructLayout(LayoutKind.Sequential)]
internal struct FuseCopyFileRangeIn
{
    public ulong FhIn;
    public ulong OffIn;
    public ulong NodeidOut;
    public ulong FhOut;
    public ulong OffOut;
    public ulong Len;
    public ulong Flags;
}

[StructLayout(LayoutKind.Sequential)]
internal struct FuseNotifyInvalEntryOut
{
    public ulong Parent;
    public uint Namelen;
    public uint Flags;
}

[StructLayout(LayoutKind.Sequential)]
internal struct FuseNotifyInvalInodeOut
{
    public ulong Ino;
    public long Off;
    public long Len;
}

[StructLayout(LayoutKind.Sequential)]
internal struct FuseNotifyDeleteOut
{
    public ulong Parent;
    public ulong Child;
    public uint Namelen;
    public uint Padding;
}

/// <summary>Splits a <see cref="TimeSpan"/> into the (seconds, nanoseconds) pairs the protocol uses.</summary>
internal static class FuseTime
{
    public static void Split(TimeSpan timeout, out ulong seconds, out uint nanoseconds)
    {
        if (timeout <= TimeSpan.Zero)
        {
            seconds = 0;
            nanoseconds = 0;
            return;
        }

        seconds = (ulong)(timeout.Ticks / TimeSpan.TicksPerSecond);
        nanoseconds = (uint)(timeout.Ticks % TimeSpan.TicksPerSecond * 100);
    }
}
