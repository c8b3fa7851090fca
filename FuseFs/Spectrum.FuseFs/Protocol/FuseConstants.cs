namespace Spectrum.FuseFs;

/// <summary>enum fuse_opcode.</summary>
internal enum FuseOpcode : uint
{
    Lookup = 1,
    Forget = 2,
    Getattr = 3,
    Setattr = 4,
    Readlink = 5,
    Symlink = 6,
    Mknod = 8,
    Mkdir = 9,
    Unlink = 10,
    Rmdir = 11,
    Rename = 12,
    Link = 13,
    Open = 14,
    Read = 15,
    Write = 16,
    Statfs = 17,
    Release = 18,
    Fsync = 20,
    Setxattr = 21,
    Getxattr = 22,
    Listxattr = 23,
    Removexattr = 24,
    Flush = 25,
    Init = 26,
    Opendir = 27,
    Readdir = 28,
    Releasedir = 29,
    Fsyncdir = 30,
    Getlk = 31,
    Setlk = 32,
    Setlkw = 33,
    Access = 34,
    Create = 35,
    Interrupt = 36,
    Bmap = 37,
    Destroy = 38,
    Ioctl = 39,
    Poll = 40,
    NotifyReply = 41,
    BatchForget = 42,
    Fallocate = 43,
    Readdirplus = 44,
    Rename2 = 45,
    Lseek = 46,
    CopyFileRange = 47,
    Setupmapping = 48,
    Removemapping = 49,
    Syncfs = 50,
    Tmpfile = 51,
    Statx = 52,
    CopyFileRange64 = 53,
}

/// <summary>enum fuse_notify_code.</summary>
internal enum FuseNotifyCode
{
    Poll = 1,
    InvalInode = 2,
    InvalEntry = 3,
    Store = 4,
    Retrieve = 5,
    Delete = 6,
    Resend = 7,
    IncEpoch = 8,
}

/// <summary>INIT flags (fuse_init_in/out.flags, and flags2 shifted up by 32 bits).</summary>
[Flags]
public enum FuseInitFlags : ulong
{
    None = 0,
    AsyncRead = 1UL << 0,
    PosixLocks = 1UL << 1,
    AtomicOTrunc = 1UL << 3,
    ExportSupport = 1UL << 4,
    BigWrites = 1UL << 5,
    DontMask = 1UL << 6,
    FlockLocks = 1UL << 10,
    AutoInvalData = 1UL << 12,
    DoReaddirplus = 1UL << 13,
    ReaddirplusAuto = 1UL << 14,
    AsyncDio = 1UL << 15,
    WritebackCache = 1UL << 16,
    NoOpenSupport = 1UL << 17,
    ParallelDirops = 1UL << 18,
    HandleKillpriv = 1UL << 19,
    PosixAcl = 1UL << 20,
    AbortError = 1UL << 21,
    MaxPages = 1UL << 22,
    CacheSymlinks = 1UL << 23,
    NoOpendirSupport = 1UL << 24,
    ExplicitInvalData = 1UL << 25,
    HandleKillprivV2 = 1UL << 28,
    SetxattrExt = 1UL << 29,
    /// <summary>flags2 is valid (protocol 7.36).</summary>
    InitExt = 1UL << 30,
    SecurityCtx = 1UL << 32,
    CreateSuppGroup = 1UL << 34,
    HasExpireOnly = 1UL << 35,
    DirectIoAllowMmap = 1UL << 36,
    /// <summary>Kernel passthrough with backing ids (protocol 7.40).</summary>
    Passthrough = 1UL << 37,
    NoExportSupport = 1UL << 38,
    HasResend = 1UL << 39,
}

/// <summary>FOPEN_* flags in <see cref="FuseOpenOut.OpenFlags"/>.</summary>
[Flags]
public enum FuseOpenFlags : uint
{
    None = 0,
    /// <summary>Bypass the page cache for this open file.</summary>
    DirectIo = 1 << 0,
    /// <summary>Do not invalidate the data cache on open.</summary>
    KeepCache = 1 << 1,
    NonSeekable = 1 << 2,
    /// <summary>The kernel may cache this directory's entries (OPENDIR).</summary>
    CacheDir = 1 << 3,
    Stream = 1 << 4,
    NoFlush = 1 << 5,
    ParallelDirectWrites = 1 << 6,
    /// <summary>Reads and writes go straight to the backing file named by <see cref="FuseOpenOut.BackingId"/>.</summary>
    Passthrough = 1 << 7,
}

/// <summary>FATTR_* bits of <see cref="FuseSetAttrIn.Valid"/>.</summary>
[Flags]
public enum FuseSetAttrValid : uint
{
    None = 0,
    Mode = 1 << 0,
    Uid = 1 << 1,
    Gid = 1 << 2,
    Size = 1 << 3,
    Atime = 1 << 4,
    Mtime = 1 << 5,
    Fh = 1 << 6,
    AtimeNow = 1 << 7,
    MtimeNow = 1 << 8,
    LockOwner = 1 << 9,
    Ctime = 1 << 10,
    /// <summary>With HANDLE_KILLPRIV_V2: clear setuid/setgid as part of this change.</summary>
    KillSuidGid = 1 << 11,
}

/// <summary>RENAME2 flags (renameat2(2)).</summary>
[Flags]
public enum FuseRenameFlags : uint
{
    None = 0,
    /// <summary>RENAME_NOREPLACE: fail with EEXIST if the target exists.</summary>
    NoReplace = 1 << 0,
    /// <summary>RENAME_EXCHANGE: atomically swap source and target.</summary>
    Exchange = 1 << 1,
    /// <summary>RENAME_WHITEOUT (overlayfs); filesystems normally answer EINVAL.</summary>
    Whiteout = 1 << 2,
}

/// <summary>WRITE flags (fuse_write_in.write_flags).</summary>
[Flags]
public enum FuseWriteFlags : uint
{
    None = 0,
    /// <summary>Delayed write from the page cache; the file handle is a guess.</summary>
    Cache = 1 << 0,
    LockOwner = 1 << 1,
    /// <summary>With HANDLE_KILLPRIV_V2: clear setuid/setgid as part of this write.</summary>
    KillSuidGid = 1 << 2,
}

/// <summary>RELEASE flags (fuse_release_in.release_flags).</summary>
[Flags]
public enum FuseReleaseFlags : uint
{
    None = 0,
    Flush = 1 << 0,
    /// <summary>Release the BSD (flock) locks of <c>lockOwner</c>.</summary>
    FlockUnlock = 1 << 1,
}

/// <summary>Protocol constants the session relies on.</summary>
internal static class FuseProtocol
{
    public const uint KernelVersion = 7;

    /// <summary>
    /// The minor version this implementation speaks. Nothing past 7.40 changes a request or reply
    /// layout the session decodes (7.41–7.45 add opcodes answered ENOSYS and flags not requested).
    /// </summary>
    public const uint KernelMinorVersion = 45;

    public const ulong RootId = 1;

    /// <summary>FUSE_INT_REQ_BIT: set in the unique of an INTERRUPT request.</summary>
    public const ulong InterruptRequestBit = 1;

    public const uint GetattrFh = 1 << 0;
    public const uint LkFlock = 1 << 0;
    public const uint FsyncFdatasync = 1 << 0;
    public const uint ReadLockOwner = 1 << 1;

    /// <summary>FUSE_COMPAT_SETXATTR_IN_SIZE: the setxattr header without FUSE_SETXATTR_EXT.</summary>
    public const int CompatSetxattrInSize = 8;

    /// <summary>FUSE_MIN_READ_BUFFER: the kernel refuses smaller read buffers.</summary>
    public const int MinReadBuffer = 8192;
}
