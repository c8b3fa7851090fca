namespace Spectrum.FuseFs;

/// <summary>Who asked, and whether they still want the answer. Passed by reference to every operation.</summary>
public readonly struct FuseRequestContext
{
    internal FuseRequestContext(ulong unique, uint uid, uint gid, uint pid, CancellationToken cancellation)
    {
        Unique = unique;
        Uid = uid;
        Gid = gid;
        Pid = pid;
        Cancellation = cancellation;
    }

    /// <summary>The kernel's request id (diagnostics only).</summary>
    public ulong Unique { get; }

    /// <summary>The caller's fsuid as the kernel saw it (for a view behind virtiofsd: virtiofsd's, i.e. the guest's, after its credential switch).</summary>
    public uint Uid { get; }

    public uint Gid { get; }

    /// <summary>The calling thread group, 0 for kernel-internal requests (e.g. writeback).</summary>
    public uint Pid { get; }

    /// <summary>
    /// Signalled when the kernel sends FUSE_INTERRUPT for this request (the caller got a signal).
    /// A filesystem that honours it returns <see cref="Spectrum.Interop.Errno.EINTR"/>; one that
    /// ignores it simply finishes. Long waits (SETLKW) should watch it.
    /// </summary>
    public CancellationToken Cancellation { get; }
}

/// <summary>What INIT negotiated; given to <see cref="IFuseFileSystem.Init"/>.</summary>
public readonly record struct FuseConnectionInfo(
    uint ProtocolMajor,
    uint ProtocolMinor,
    FuseInitFlags KernelFlags,
    FuseInitFlags Flags,
    uint MaxWrite,
    uint MaxReadahead,
    ushort MaxPages)
{
    /// <summary>Passthrough was negotiated: OPEN/CREATE may answer with a backing id.</summary>
    public bool Passthrough => (Flags & FuseInitFlags.Passthrough) != 0;

    /// <summary>The kernel sends READDIRPLUS (instead of, or with READDIRPLUS_AUTO besides, READDIR).</summary>
    public bool ReaddirPlus => (Flags & FuseInitFlags.DoReaddirplus) != 0;
}
