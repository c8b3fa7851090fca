using Spectrum.Interop;

namespace Spectrum.Broker.Hosting;

/// <summary>
/// How the broker's file descriptors are shared out (issue 14, item 2). At start the soft
/// RLIMIT_NOFILE is raised to the hard limit (<see cref="Initialize"/>); the budgets below are
/// fractions of that limit, so that no single consumer (a guest's held nodes, its open handles, its
/// directory streams, or local users' control connections) can take the descriptors the others need.
/// <para>
/// Arithmetic, for a limit L (e.g. 524,288 under systemd's default hard limit, 1,024 in a bare
/// shell): node fds held by views (one O_PATH fd per looked-up node) get 40 % of L, open file
/// handles 30 %, directory streams 5 %; the remaining 25 % is kept for SQLite (the writer and pooled
/// readers, 3 fds each with -wal and -shm), the control socket and its connections (see
/// <see cref="MaxConnectionsPerUid"/>, <see cref="MaxConnections"/>), the portal channels, FUSE
/// devices, and the VMM and virtiofsd children with their pipes. Per VM, a view may hold at most
/// <see cref="PerVmNodeFds"/> node fds, <see cref="PerVmHandles"/> handles and
/// <see cref="PerVmDirStreams"/> directory streams, each never more than the total budget.
/// </para>
/// </summary>
public static class FdBudget
{
    /// <summary>The RLIMIT_NOFILE the budgets are computed from when <see cref="Initialize"/> has not run (the usual soft default).</summary>
    public const ulong DefaultLimit = 1024;

    /// <summary>Percent of the limit for node fds held by all views together.</summary>
    public const int NodeFdPercent = 40;

    /// <summary>Percent of the limit for open file handles of all views together.</summary>
    public const int HandlePercent = 30;

    /// <summary>Percent of the limit for open directory streams of all views together.</summary>
    public const int DirStreamPercent = 5;

    /// <summary>Per-VM cap on held node fds (before the total cap).</summary>
    public const int PerVmNodeFdCap = 4096;

    /// <summary>Per-VM cap on open file handles (before the total cap).</summary>
    public const int PerVmHandleCap = 4096;

    /// <summary>Per-VM cap on open directory streams (before the total cap).</summary>
    public const int PerVmDirStreamCap = 512;

    /// <summary>Open control-socket connections one non-root uid may hold; further ones are closed at once.</summary>
    public const int MaxConnectionsPerUid = 64;

    /// <summary>Open control-socket connections root (uid 0) may hold: higher, still capped.</summary>
    public const int MaxConnectionsRoot = 256;

    /// <summary>Open control-socket connections in all (Kestrel's MaxConcurrentConnections).</summary>
    public const int MaxConnections = 1024;

    private static ulong s_limit = DefaultLimit;

    /// <summary>The soft RLIMIT_NOFILE in force, as <see cref="Initialize"/> left it.</summary>
    public static ulong Limit => Interlocked.Read(ref s_limit);

    /// <summary>Node fds all views may hold together: <see cref="NodeFdPercent"/> % of the limit.</summary>
    public static int TotalNodeFds => Share(NodeFdPercent);

    /// <summary>Open file handles of all views together: <see cref="HandlePercent"/> % of the limit.</summary>
    public static int TotalHandles => Share(HandlePercent);

    /// <summary>Open directory streams of all views together: <see cref="DirStreamPercent"/> % of the limit.</summary>
    public static int TotalDirStreams => Share(DirStreamPercent);

    /// <summary>Node fds one VM's view may hold: <see cref="PerVmNodeFdCap"/>, never above the total.</summary>
    public static int PerVmNodeFds => Math.Min(PerVmNodeFdCap, TotalNodeFds);

    /// <summary>Open file handles of one VM's view: <see cref="PerVmHandleCap"/>, never above the total.</summary>
    public static int PerVmHandles => Math.Min(PerVmHandleCap, TotalHandles);

    /// <summary>Open directory streams of one VM's view: <see cref="PerVmDirStreamCap"/>, never above the total.</summary>
    public static int PerVmDirStreams => Math.Min(PerVmDirStreamCap, TotalDirStreams);

    /// <summary>
    /// Raises the soft RLIMIT_NOFILE to the hard limit, once, at start, and records it. When that
    /// fails the budgets follow the soft limit in force.
    /// </summary>
    public static ResourceLimit Initialize()
    {
        ResourceLimit limit;
        try
        {
            limit = ResourceLimits.RaiseOpenFilesToHard();
        }
        catch (SysCallException)
        {
            limit = ResourceLimits.GetOpenFiles();
        }

        Interlocked.Exchange(ref s_limit, limit.Soft);
        return limit;
    }

    private static int Share(int percent) => (int)Math.Min(int.MaxValue, Limit / 100 * (ulong)percent);
}
