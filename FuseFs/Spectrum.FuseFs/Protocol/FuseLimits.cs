namespace Spectrum.FuseFs;

/// <summary>
/// Every limit a request is validated against, in one place. A request that breaks one is
/// answered EINVAL (or E2BIG/ENAMETOOLONG where the VFS itself would say so) and never reaches the
/// filesystem.
/// </summary>
internal static class FuseLimits
{
    /// <summary>NAME_MAX: a path component, without its NUL.</summary>
    public const int MaxName = 255;

    /// <summary>PATH_MAX including the NUL: a symlink target.</summary>
    public const int MaxSymlinkTarget = 4096;

    /// <summary>XATTR_NAME_MAX.</summary>
    public const int MaxXattrName = 255;

    /// <summary>XATTR_SIZE_MAX: the largest value (or list) the VFS moves.</summary>
    public const int MaxXattrSize = 65536;

    /// <summary>BATCH_FORGET entries in one request (the kernel sends at most what fits a page).</summary>
    public const int MaxBatchForget = 65536;

    /// <summary>The largest request body besides WRITE's data: SETXATTR's name and value.</summary>
    public const int MaxNonWriteBody = 16 + MaxXattrName + 1 + MaxXattrSize;

    /// <summary>The kernel's own cap on pages per request (fuse_max_pages_limit default, 256 × 4 KiB = 1 MiB).</summary>
    public const int MaxPagesLimit = 256;

    public const int PageSize = 4096;

    /// <summary>Room for the headers in front of the data of a WRITE request or a READ reply.</summary>
    public const int HeaderRoom = 4096;

    /// <summary>Size of fuse_in_header.</summary>
    public const int InHeaderSize = 40;

    /// <summary>Size of fuse_out_header.</summary>
    public const int OutHeaderSize = 16;
}
