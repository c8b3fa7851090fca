using System.Runtime.InteropServices;

namespace Spectrum.FuseFs;

/// <summary>
/// Passthrough backing ids shared per node. The kernel binds a passthrough inode to one backing
/// file: while one passthrough open of an inode exists, another open of it answered with a
/// <i>different</i> backing id fails with EIO (fs/fuse/iomode.c; the test
/// Passthrough_ConcurrentOpensOfOneInode_ShareOneBackingId shows it). So every open of a node
/// must reuse the node's id until its last passthrough open is released. Thread-safe.
/// </summary>
/// <remarks>
/// Usage: in OPEN/CREATE, <c>id = ids.Acquire(key, file)</c>; if &gt; 0 answer
/// <see cref="FuseOpenFlags.Passthrough"/> with it and remember that this handle holds one; in
/// RELEASE of such a handle, <c>ids.Release(key)</c>. The first acquirer's file becomes the
/// backing file for every later open until the count drops to zero: open it O_RDWR when the node
/// may be written (a read-only backing file fails passthrough writes with EBADF), or answer
/// write opens without passthrough (with <see cref="FuseOpenFlags.DirectIo"/>: cached and
/// passthrough opens of one inode exclude each other too).
/// </remarks>
public sealed class FuseBackingIds(FuseSession session)
{
    private readonly Dictionary<ulong, (int Id, int Users)> _ids = [];
    private readonly Lock _lock = new();

    /// <summary>Backing ids currently registered with the kernel.</summary>
    public int Count
    {
        get
        {
            lock (_lock)
            {
                return _ids.Count;
            }
        }
    }

    /// <summary>The node's backing id (registering <paramref name="file"/> if it has none), or a negative errno.</summary>
    public int Acquire(ulong key, SafeHandle file)
    {
        lock (_lock)
        {
            if (_ids.TryGetValue(key, out var entry))
            {
                _ids[key] = (entry.Id, entry.Users + 1);
                return entry.Id;
            }

            var id = session.OpenBacking(file);
            if (id > 0)
            {
                _ids[key] = (id, 1);
            }

            return id;
        }
    }

    /// <summary>One passthrough handle of the node was released; the last one closes the id (open files keep their backing file).</summary>
    public void Release(ulong key)
    {
        lock (_lock)
        {
            if (!_ids.TryGetValue(key, out var entry))
            {
                return;
            }

            if (entry.Users > 1)
            {
                _ids[key] = (entry.Id, entry.Users - 1);
                return;
            }

            _ids.Remove(key);
            session.CloseBacking(entry.Id);
        }
    }
}
