using System.Collections.Concurrent;
using Spectrum.FuseFs;
using Spectrum.Interop;

namespace Spectrum.Broker.Views;

/// <summary>
/// The node table: nodes by key, backed nodes by host object (one node per object and grant set,
/// so hard links share one), synthesized nodes by (parent, name); and the O_PATH fds they hold,
/// within <see cref="ViewLimits.NodeFds"/>.
/// </summary>
/// <remarks>
/// Every operation takes its nodes through <see cref="Usable"/>, which pins them until the request
/// is answered (<see cref="RequestDone"/>): a pinned node's fd is never closed. Past the limit,
/// the least recently used unpinned nodes give their fds back (<see cref="TrimNodeFds"/>) and keep
/// a file handle instead; the next operation on such a node opens the same object again with
/// open_by_handle_at (root only: CAP_DAC_READ_SEARCH). A guest that creates or looks up 100,000
/// names thus costs the broker 100,000 small node records, not 100,000 fds.
/// </remarks>
internal sealed partial class ViewFileSystem
{
    /// <summary>Nodes pinned by the operation running on this thread (see <see cref="Usable"/>).</summary>
    [ThreadStatic]
    private static ViewNode?[]? t_pinned;

    [ThreadStatic]
    private static int t_pinnedCount;

    private readonly Dictionary<NodeObject, ViewNode> _byObject = new(NodeObject.Comparer.Instance);
    private readonly Dictionary<NodeName, ViewNode> _synthetic = new(NodeName.Comparer.Instance);
    private readonly Dictionary<NodeName, ViewNode>.AlternateLookup<NodeNameRef> _syntheticRef;
    private readonly ConcurrentQueue<ViewNode> _closeLater = new();
    private readonly Lock _trimLock = new();
    /// <summary>The tree root opened for reading: open_by_handle_at's mount fd (it refuses O_PATH fds); null when handles cannot be reopened.</summary>
    private readonly SafeFd? _mountFd;
    private long _nodeFds;
    private long _layout;
    private long _openHandles;
    private long _openDirectories;

    /// <summary>O_PATH fds the nodes of this view hold now (the root's excluded).</summary>
    public long NodeFds => Interlocked.Read(ref _nodeFds);

    /// <summary>Nodes the kernel knows now.</summary>
    public int NodeCount => _nodes.Count;

    /// <summary>Open files and directories now.</summary>
    public (long Files, long Directories) OpenHandles => (Interlocked.Read(ref _openHandles), Interlocked.Read(ref _openDirectories));

    /// <summary>
    /// Whether fds can be given back and opened again from file handles here: open_by_handle_at
    /// needs CAP_DAC_READ_SEARCH and a filesystem with handles; probed once on the tree root.
    /// </summary>
    private static SafeFd? ProbeReopen(SafeFd tree)
    {
        Span<byte> handle = stackalloc byte[Posix.MaxHandleSize];
        if (Posix.GetHandle(tree, handle, out var type, out var length) != Errno.OK
            || Posix.Reopen(tree, OpenFlags.ReadOnly | OpenFlags.Directory, out var mount) != Errno.OK)
        {
            return null;
        }

        if (Posix.OpenByHandle(mount!, type, handle[..length], OpenFlags.Path, out var fd) != Errno.OK)
        {
            mount!.Dispose();
            return null;
        }

        fd!.Dispose();
        return mount;
    }

    /// <summary>
    /// The node behind <paramref name="key"/>, pinned for this operation with its fd open (opened
    /// again from its handle if it was given back); null if the key is unknown or its object is gone.
    /// </summary>
    private ViewNode? Node(ulong key)
    {
        var n = key == FuseSession.RootKey ? CurrentRoot : _nodes.TryGetValue(key, out var found) ? found : null;
        return n is null ? null : Usable(n);
    }

    /// <summary>Pins <paramref name="n"/> until the request is answered and makes sure its fd is open; null when it cannot be.</summary>
    private ViewNode? Usable(ViewNode n)
    {
        if (n.IsSynthesized)
        {
            return n;
        }

        n.Pin();
        var pinned = t_pinned ??= new ViewNode?[16];
        if (t_pinnedCount == pinned.Length)
        {
            Array.Resize(ref t_pinned, pinned.Length * 2);
            pinned = t_pinned;
        }

        pinned[t_pinnedCount++] = n;
        n.LastUsed = Environment.TickCount64;
        return n.Fd is not null || Reopen(n) ? n : null;
    }

    /// <inheritdoc/>
    public override void RequestDone()
    {
        var pinned = t_pinned;
        for (var i = 0; i < t_pinnedCount; i++)
        {
            pinned![i]!.Unpin();
            pinned[i] = null;
        }

        t_pinnedCount = 0;
        if (!_closeLater.IsEmpty)
        {
            CloseForgotten();
        }
    }

    /// <summary>Opens a given-back node's object again from its handle (the node is pinned).</summary>
    private bool Reopen(ViewNode n)
    {
        lock (n)
        {
            if (n.Fd is not null)
            {
                return true;
            }

            if (n.Handle is not { } handle || Posix.OpenByHandle(_mountFd!, n.HandleType, handle, OpenFlags.Path, out var fd) != Errno.OK)
            {
                // ESTALE: the object is gone (deleted while nothing held it); the node answers ENOENT.
                return false;
            }

            n.PutFd(fd!);
        }

        CountNodeFd(+1);
        lock (_nodeLock)
        {
            // Indexed again: its fd pins the inode, so its number names this object while it is in the index.
            _byObject.TryAdd(new NodeObject(n.Dev, n.Ino, n.Grants), n);
        }

        return true;
    }

    private void CountNodeFd(long delta)
    {
        Interlocked.Add(ref _nodeFds, delta);
        _settings.Budget.AddNodeFds(delta);
    }

    private bool OverNodeFdBudget => Interlocked.Read(ref _nodeFds) > _settings.Limits.NodeFds || _settings.Budget.NodeFds > _settings.Budget.MaxNodeFds;

    private ulong NextKey() => (ulong)Interlocked.Increment(ref _nextKey);

    /// <summary>
    /// Finds or makes the backed node for the host object <paramref name="st"/> under
    /// <paramref name="grants"/>, found as <paramref name="name"/> in <paramref name="parent"/>, and
    /// counts one reference for the kernel. Takes <paramref name="fd"/> (kept by a new node, closed
    /// otherwise). ENFILE when the node fds are exhausted and none can be given back.
    /// </summary>
    private Errno InternBacked(ViewNode parent, ReadOnlySpan<byte> name, ViewGrant[] grants, SafeFd fd, in StatxResult st, out ViewNode node)
    {
        ViewNode? existing;
        lock (_nodeLock)
        {
            if (!_byObject.TryGetValue(new NodeObject(st.Dev, st.Ino, grants), out existing))
            {
                if (Interlocked.Read(ref _nodeFds) >= 2L * _settings.Limits.NodeFds)
                {
                    node = null!;
                    fd.Dispose();
                    return Errno.ENFILE;
                }

                node = new ViewNode(NextKey(), parent, name.ToArray(), grants, fd, st.IsDirectory, st.Dev, st.Ino)
                {
                    LastUsed = Environment.TickCount64,
                };
                node.AddReference();
                _nodes[node.Key] = node;
                _byObject[new NodeObject(st.Dev, st.Ino, grants)] = node;
                CountNodeFd(+1);
            }
            else
            {
                existing.AddReference();
                node = existing;
                if (existing.IsDirectory && (existing.Parent != parent || !existing.Name.AsSpan().SequenceEqual(name)))
                {
                    // A directory moved on the host: it has one name, the one just found.
                    existing.Move(parent, name.ToArray());
                    Interlocked.Increment(ref _layout);
                }
            }
        }

        if (existing is not null)
        {
            fd.Dispose();
        }
        else if (OverNodeFdBudget)
        {
            TrimNodeFds();
        }

        return Errno.OK;
    }

    /// <summary>Finds or makes the synthesized node for (parent, name), counting one reference for the kernel.</summary>
    private ViewNode InternSynthetic(ViewNode parent, ReadOnlySpan<byte> name, TableNode tableNode)
    {
        lock (_nodeLock)
        {
            if (_syntheticRef.TryGetValue(new NodeNameRef(parent.Key, name), out var existing))
            {
                existing.AddReference();
                return existing;
            }

            var nameBytes = name.ToArray();
            var node = new ViewNode(NextKey(), parent, nameBytes, [], null, true, 0, tableNode.SyntheticIno);
            node.AddReference();
            _nodes[node.Key] = node;
            _synthetic[new NodeName(parent.Key, nameBytes)] = node;
            return node;
        }
    }

    public override void Forget(ulong node, ulong references)
    {
        if (node == FuseSession.RootKey || !_nodes.TryGetValue(node, out var n) || !n.Release(references))
        {
            return;
        }

        lock (_nodeLock)
        {
            // A lookup may have found the node again (under this lock) since its count reached zero.
            if (n.References > 0)
            {
                return;
            }

            _nodes.TryRemove(node, out _);
            if (n.IsSynthesized)
            {
                var key = new NodeName(n.Parent!.Key, n.Name);
                if (_synthetic.TryGetValue(key, out var current) && current == n)
                {
                    _synthetic.Remove(key);
                }
            }
            else
            {
                var key = new NodeObject(n.Dev, n.Ino, n.Grants);
                if (_byObject.TryGetValue(key, out var current) && current == n)
                {
                    _byObject.Remove(key);
                }
            }
        }

        CloseNodeFd(n);
    }

    /// <summary>Closes a forgotten node's fd (or a replaced root's) now, or once the operations that pin it are done.</summary>
    private void CloseNodeFd(ViewNode n)
    {
        if (n.IsSynthesized)
        {
            return;
        }

        var fd = n.TryTakeFdForGood(out var pinned);
        if (pinned)
        {
            _closeLater.Enqueue(n);
            return;
        }

        if (fd is not null)
        {
            fd.Dispose();
            if (n.Key != FuseSession.RootKey)
            {
                CountNodeFd(-1); // the root's fd is not counted
            }
        }
    }

    private void CloseForgotten()
    {
        for (var i = _closeLater.Count; i > 0 && _closeLater.TryDequeue(out var n); i--)
        {
            CloseNodeFd(n);
        }
    }

    /// <summary>
    /// Gives back the fds of the least recently used unpinned nodes until this view holds at most
    /// 7/8 of its limit (and, when the total is over, an eighth of what it holds), keeping a file
    /// handle for each so it can be opened again. Runs on the operation that went over, one at a
    /// time per view; allocates (a sorted list of candidates), which is why it frees an eighth at once.
    /// </summary>
    private void TrimNodeFds()
    {
        if (_mountFd is null || !_trimLock.TryEnter())
        {
            return;
        }

        try
        {
            var held = Interlocked.Read(ref _nodeFds);
            var toFree = Math.Max(held - (_settings.Limits.NodeFds * 7L / 8), 0);
            if (_settings.Budget.NodeFds > _settings.Budget.MaxNodeFds)
            {
                toFree = Math.Max(toFree, Math.Max(held / 8, 1));
            }

            if (toFree == 0)
            {
                return;
            }

            var candidates = new List<ViewNode>();
            foreach (var n in _nodes.Values)
            {
                if (!n.IsSynthesized && n.Key != FuseSession.RootKey && n.Fd is not null)
                {
                    candidates.Add(n);
                }
            }

            candidates.Sort(static (a, b) => a.LastUsed.CompareTo(b.LastUsed));
            Span<byte> handle = stackalloc byte[Posix.MaxHandleSize];
            foreach (var n in candidates)
            {
                if (toFree == 0)
                {
                    break;
                }

                if (n.Fd is not { } current || Posix.GetHandle(current, handle, out var type, out var length) != Errno.OK)
                {
                    continue;
                }

                SafeFd? fd;
                lock (_nodeLock)
                {
                    fd = n.TryTakeFd(handle[..length].ToArray(), type);
                    if (fd is not null)
                    {
                        // Out of the index while it holds no fd: its inode number could be reused by another object.
                        var key = new NodeObject(n.Dev, n.Ino, n.Grants);
                        if (_byObject.TryGetValue(key, out var indexed) && indexed == n)
                        {
                            _byObject.Remove(key);
                        }
                    }
                }

                if (fd is not null)
                {
                    fd.Dispose();
                    CountNodeFd(-1);
                    toFree--;
                }
            }
        }
        finally
        {
            _trimLock.Exit();
        }
    }
}
