namespace Spectrum.FuseFs;

/// <summary>How a <see cref="FuseSession"/> runs and what it asks of the kernel at INIT. Validated by <see cref="Validate"/>.</summary>
public sealed class FuseSessionOptions
{
    /// <summary>
    /// Reader threads, each with its own cloned fd and buffers (2 × (<see cref="MaxWrite"/> + 4 KiB)
    /// pinned). Default: one per processor, at least 4 and at most 8. Range 1–64.
    /// </summary>
    /// <remarks>
    /// At least 4 even on 2 processors, where a single sequential client would seem to need one:
    /// the kernel wakes the reader that has waited longest, and with more of them the wake-up lands
    /// on a processor that is not halted more often. Measured on a 2-vCPU VM (where waking a halted
    /// vCPU costs ~20 µs): a round trip of 26 µs with 2 readers, 18–23 µs with 3 to 8 (libfuse:
    /// 17–22); 10,000 cold stats 420 ms with 2, 357 ms with 4 (libfuse 408).
    /// </remarks>
    public int ReaderThreads { get; set; } = Math.Clamp(Environment.ProcessorCount, 4, 8);

    /// <summary>Largest WRITE (and READ) in bytes; a multiple of 4 KiB, 4 KiB–1 MiB. Default 1 MiB (max_pages 256).</summary>
    public int MaxWrite { get; set; } = 1 << 20;

    /// <summary>Background requests (readahead, async I/O) the kernel may have outstanding. Default 64; 1–65535.</summary>
    public int MaxBackground { get; set; } = 64;

    /// <summary>Ask for FUSE_POSIX_LOCKS and FUSE_FLOCK_LOCKS: locks go to GetLk/SetLk instead of being kept by the kernel. Default off.</summary>
    public bool Locks { get; set; }

    /// <summary>Ask for FUSE_PASSTHROUGH (needs CAP_SYS_ADMIN and a kernel with protocol 7.40). Default off.</summary>
    public bool Passthrough { get; set; }

    /// <summary>Ask for FUSE_WRITEBACK_CACHE (excludes passthrough). Default off.</summary>
    public bool WritebackCache { get; set; }

    /// <summary>Ask for FUSE_DO_READDIRPLUS (with <see cref="ReaddirPlusAuto"/>, the kernel picks READDIR or READDIRPLUS per request). Default on.</summary>
    public bool ReaddirPlus { get; set; } = true;

    /// <summary>
    /// With <see cref="ReaddirPlus"/>, also ask for FUSE_READDIRPLUS_AUTO: the kernel sends
    /// READDIRPLUS for a listing's first request and whenever the names it returned are being
    /// looked up, READDIR otherwise (fs/fuse/readdir.c, fuse_use_readdirplus). Off: every listing
    /// is READDIRPLUS. Default on, as libfuse does.
    /// </summary>
    public bool ReaddirPlusAuto { get; set; } = true;

    /// <summary>Ask for FUSE_EXPORT_SUPPORT: the filesystem answers LOOKUP of "." and "..". Default on.</summary>
    public bool ExportSupport { get; set; } = true;

    /// <summary>
    /// Which callers are served (see <see cref="IFuseCallerFilter"/>); the others get EACCES.
    /// Default: none, every caller the kernel lets in is served.
    /// </summary>
    public IFuseCallerFilter? Callers { get; set; }

    /// <summary>Where the session reports what it cannot answer for (an exception in the filesystem, a reader failing). Default: nowhere.</summary>
    public Action<string, Exception?>? Log { get; set; }

    /// <summary>Throws <see cref="ArgumentOutOfRangeException"/> naming the first bad option.</summary>
    public void Validate()
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(ReaderThreads, 1, nameof(ReaderThreads));
        ArgumentOutOfRangeException.ThrowIfGreaterThan(ReaderThreads, 64, nameof(ReaderThreads));
        ArgumentOutOfRangeException.ThrowIfLessThan(MaxWrite, FuseLimits.PageSize, nameof(MaxWrite));
        ArgumentOutOfRangeException.ThrowIfGreaterThan(MaxWrite, FuseLimits.MaxPagesLimit * FuseLimits.PageSize, nameof(MaxWrite));
        if (MaxWrite % FuseLimits.PageSize != 0)
        {
            throw new ArgumentOutOfRangeException(nameof(MaxWrite), MaxWrite, "must be a multiple of 4096");
        }

        ArgumentOutOfRangeException.ThrowIfLessThan(MaxBackground, 1, nameof(MaxBackground));
        ArgumentOutOfRangeException.ThrowIfGreaterThan(MaxBackground, ushort.MaxValue, nameof(MaxBackground));
        if (Passthrough && WritebackCache)
        {
            throw new ArgumentOutOfRangeException(nameof(Passthrough), "passthrough and the writeback cache exclude each other");
        }
    }
}

/// <summary>How <see cref="FuseMount.Mount"/> mounts.</summary>
public sealed class FuseMountOptions
{
    /// <summary>The filesystem's name: type <c>fuse.&lt;Name&gt;</c> in /proc/self/mountinfo, which <see cref="FuseMount.CleanupStale"/> looks for. Default "spectrum".</summary>
    public string Name { get; set; } = "spectrum";

    /// <summary>allow_other: users other than the mounter (e.g. virtiofsd after its credential switch) may enter. Default on.</summary>
    public bool AllowOther { get; set; } = true;

    /// <summary>default_permissions: the kernel checks mode bits before asking the filesystem. Default off.</summary>
    public bool DefaultPermissions { get; set; }

    /// <summary>Mount read-only (MS_RDONLY). Default off.</summary>
    public bool ReadOnly { get; set; }

    /// <summary>Use fusermount3 even when mount(2) would be allowed. Default off (fusermount3 only as the unprivileged fallback).</summary>
    public bool ForceFusermount { get; set; }
}
