namespace Spectrum.Broker.Views;

/// <summary>
/// What one view may make the broker hold, and the counts of what all views hold together (one
/// <see cref="ViewBudget"/> shared by every view of a broker). A guest reaches these through
/// virtiofsd without any local privilege, so each is capped per VM and in total; past a cap the
/// view answers a plain errno and the broker, and every other VM, keep working.
/// </summary>
/// <param name="NodeFds">
/// O_PATH fds held by a VM's nodes. Not a refusal limit: past it, the fds of the least recently
/// used nodes are given back and opened again from their file handle when next used (nodes the
/// kernel still knows stay valid). Only a filesystem without file handles can exhaust it, and
/// then a new name answers ENFILE.
/// </param>
/// <param name="Handles">Files a VM may hold open through its view; the next open answers EMFILE.</param>
/// <param name="DirectoryStreams">Directories a VM may hold open; the next opendir answers EMFILE.</param>
public sealed record ViewLimits(
    int NodeFds = Hosting.FdBudget.PerVmNodeFdCap,
    int Handles = Hosting.FdBudget.PerVmHandleCap,
    int DirectoryStreams = Hosting.FdBudget.PerVmDirStreamCap)
{
    /// <summary>
    /// Scratch files (write-temp-then-rename saves next to a named slot: ViewFileSystem.Slots.cs)
    /// one slot grant may have live at once; the next create answers EDQUOT. An editor's save needs
    /// one or two (LibreOffice, GLib's g_file_replace, vim's backup); 16 leaves room for a retry
    /// after a crash without letting a guest fill the host folder with hidden files.
    /// </summary>
    public const int ScratchFilesPerSlot = 16;

    /// <summary>The defaults: <see cref="Hosting.FdBudget"/>'s per-VM caps (4096 node fds, 4096 open files, 512 open directories).</summary>
    public static ViewLimits Default { get; } = new();
}

/// <summary>The totals over every view of one broker, against caps derived from the broker's fd limit (<see cref="Hosting.FdBudget"/>).</summary>
public sealed class ViewBudget
{
    private long _nodeFds;
    private long _handles;
    private long _directoryStreams;

    /// <param name="nodeFds">Total node fds over all views (past it, each view gives back its least recently used ones).</param>
    /// <param name="handles">Total open files over all views (past it, ENFILE: the broker's table is full, not the VM's share).</param>
    /// <param name="directoryStreams">Total open directories over all views (past it, ENFILE).</param>
    public ViewBudget(long nodeFds, long handles, long directoryStreams)
    {
        MaxNodeFds = nodeFds;
        MaxHandles = handles;
        MaxDirectoryStreams = directoryStreams;
    }

    /// <summary>No totals beyond the per-view limits (tests and benchmarks with one view).</summary>
    public static ViewBudget Unbounded() => new(long.MaxValue, long.MaxValue, long.MaxValue);

    public long MaxNodeFds { get; }

    public long MaxHandles { get; }

    public long MaxDirectoryStreams { get; }

    public long NodeFds => Interlocked.Read(ref _nodeFds);

    public long Handles => Interlocked.Read(ref _handles);

    public long DirectoryStreams => Interlocked.Read(ref _directoryStreams);

    internal long AddNodeFds(long delta) => Interlocked.Add(ref _nodeFds, delta);

    /// <summary>Takes one open-file slot; false (nothing taken) when the total is reached.</summary>
    internal bool TryTakeHandle() => TryTake(ref _handles, MaxHandles);

    internal void ReturnHandle() => Interlocked.Decrement(ref _handles);

    internal bool TryTakeDirectoryStream() => TryTake(ref _directoryStreams, MaxDirectoryStreams);

    internal void ReturnDirectoryStream() => Interlocked.Decrement(ref _directoryStreams);

    /// <summary>Counts one more against <paramref name="max"/>; false (nothing counted) when it is reached.</summary>
    internal static bool TryTake(ref long count, long max)
    {
        if (Interlocked.Increment(ref count) <= max)
        {
            return true;
        }

        Interlocked.Decrement(ref count);
        return false;
    }
}
