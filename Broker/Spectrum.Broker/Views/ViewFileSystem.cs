using System.Collections.Concurrent;
using Spectrum.Capabilities;
using Spectrum.FuseFs;
using Spectrum.Interop;

namespace Spectrum.Broker.Views;

/// <summary>What a view needs from the broker besides its grant table.</summary>
internal interface IViewHost
{
    /// <summary>The tree, held as an O_PATH fd, and its owner (who owns files created through views).</summary>
    TreeRootInfo Tree { get; }

    /// <summary>
    /// A refused operation, for the aggregated <c>deny</c> audit records: counted per (VM,
    /// operation, scope), the scope being a grant root or a synthesized directory as a tree path,
    /// with <paramref name="sample"/> (a name below the scope) kept as an example. Called on the
    /// data path: must not block.
    /// </summary>
    void Denied(string vm, string op, string scope, ReadOnlySpan<byte> sample);

    /// <summary>A grant root no longer is what was granted (replaced or moved): the grant is stale.</summary>
    void Stale(string vm, ViewGrant grant, string reason);
}

/// <summary>The tree root as a view uses it.</summary>
internal sealed record TreeRootInfo(SafeFd Fd, uint OwnerUid, uint OwnerGid)
{
    private TreeMounts? _mounts;

    /// <summary>The mount points inside the tree, shared by every view of it (made on first use).</summary>
    public TreeMounts Mounts => LazyInitializer.EnsureInitialized(ref _mounts, () => new TreeMounts(Fd));

    /// <summary>Closes what <see cref="Mounts"/> holds (when the views are gone).</summary>
    public void DisposeMounts() => Interlocked.Exchange(ref _mounts, null)?.Dispose();
}

/// <summary>Per-view settings from the VM's policy and broker.toml.</summary>
internal sealed record ViewSettings(uint GuestUid, uint GuestGid, bool Passthrough)
{
    /// <summary>
    /// Entry and attribute cache time. Short, because a revoke also invalidates by notify; a
    /// cached answer saves a round trip, which is the unit of cost (BENCHMARKS.md). Never longer
    /// than what is left of the grants behind the answer.
    /// </summary>
    public TimeSpan CacheTimeout { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>
    /// The clock grants expire by, in Unix ms (the broker passes its store's clock, the one it
    /// gives each <see cref="ViewGrant"/> too). Called on the data path: must not allocate.
    /// </summary>
    public Func<long> NowMs { get; init; } = static () => DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();

    /// <summary>What this view may hold (per VM).</summary>
    public ViewLimits Limits { get; init; } = ViewLimits.Default;

    /// <summary>The totals this view counts against (shared by all views of a broker).</summary>
    public ViewBudget Budget { get; init; } = ViewBudget.Unbounded();
}

/// <summary>
/// A VM's view of the global tree, served over FUSE: granted paths at their real places,
/// synthesized read-only ancestors, and nothing else (ENOENT, never EACCES, for ungranted names).
/// Every operation checks the rights of the live grants covering its node: a volatile read per
/// grant (and a clock compare for a grant that expires), no crypto, no allocation. Host objects
/// are reached only through O_PATH fds resolved with openat2(RESOLVE_BENEATH |
/// RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV) from the tree root, or one O_NOFOLLOW component at a
/// time below a grant root; symlinks are shown, never followed. A grant of the whole tree (".")
/// makes the view root the tree root.
/// </summary>
internal sealed partial class ViewFileSystem : FuseFileSystem
{
    private const uint SIfMt = 0xF000;
    private const uint SIfDir = 0x4000;
    private const uint SIfReg = 0x8000;
    private const uint SIfLnk = 0xA000;
    private const uint DtDir = SIfDir >> 12;
    private const uint DtReg = SIfReg >> 12;

    private readonly string _vm;
    private readonly IViewHost _host;
    private readonly ViewSettings _settings;
    private readonly Func<long> _nowMs;
    private readonly long _cacheMs;
    private readonly ConcurrentDictionary<ulong, ViewNode> _nodes = new();
    private readonly ConcurrentDictionary<ulong, ViewHandle> _handles = new();
    private readonly Lock _nodeLock = new();
    private readonly Lock _installLock = new();

    /// <summary>The synthesized view root: the root whenever no whole-tree grant is live.</summary>
    private readonly ViewNode _syntheticRoot;
    private volatile ViewNode _root;
    private long _nextKey = (long)FuseSession.RootKey;
    private long _nextHandle;
    private volatile GrantTable _table = GrantTable.Empty;

    private FuseSession? _session;
    private FuseBackingIds? _backing;

    public ViewFileSystem(string vm, IViewHost host, ViewSettings settings)
    {
        _vm = vm;
        _host = host;
        _settings = settings;
        _nowMs = settings.NowMs;
        _cacheMs = (long)settings.CacheTimeout.TotalMilliseconds;
        _syntheticRef = _synthetic.GetAlternateLookup<NodeNameRef>();
        _mountFd = ProbeReopen(host.Tree.Fd);
        _syntheticRoot = new ViewNode(FuseSession.RootKey, null, [], [], null, true, 0, GrantTable.SyntheticIno("."));
        _syntheticRoot.AddReference();
        _root = _syntheticRoot;
        _nodes[FuseSession.RootKey] = _syntheticRoot;
    }

    public string Vm => _vm;

    /// <summary>The compiled grants this view serves.</summary>
    public GrantTable Table => _table;

    /// <summary>
    /// Swaps in a new grant table; the caller then invalidates what changed (see <see cref="ViewManager"/>).
    /// A live grant of the whole tree binds the view root to the tree root (checked against the
    /// identity recorded with the grant); without one the root is synthesized.
    /// </summary>
    public void Install(GrantTable table)
    {
        lock (_installLock)
        {
            _table = table;
            BindRoot(table.Root);
        }

        // Scratch files of slot grants that ended go with them (the grant table refresh is how the view learns).
        RemoveScratch(all: false);
    }

    /// <summary>Every node the kernel holds, for invalidation after a grant change.</summary>
    public IEnumerable<ViewNode> Nodes => _nodes.Values;

    public FuseSession? Session => _session;

    public override void Init(FuseSession session, in FuseConnectionInfo connection)
    {
        _session = session;
        _backing = _settings.Passthrough && connection.Passthrough ? new FuseBackingIds(session) : null;
    }

    // ---- node table ------------------------------------------------------------------------

    /// <summary>The view root: the tree root while a whole-tree grant is live, else the synthesized root.</summary>
    private ViewNode CurrentRoot
    {
        get
        {
            var root = _root;
            return root.IsSynthesized || root.IsLive ? root : _syntheticRoot;
        }
    }

    /// <summary>The inode number ".." shows in a listing of <paramref name="dir"/>: its parent in the view, never the host's.</summary>
    private ulong ParentIno(ViewNode dir) =>
        dir.Parent is null ? dir.Ino : dir.Parent.Key == FuseSession.RootKey ? CurrentRoot.Ino : dir.Parent.Ino;

    private void BindRoot(TableNode tableRoot)
    {
        var live = Array.FindAll(tableRoot.Grants, g => !g.Ended);
        var current = _root;
        if (live.Length == 0)
        {
            Rebind(_syntheticRoot, current);
            return;
        }

        if (current != _syntheticRoot && current.Grants.AsSpan().SequenceEqual(live))
        {
            return;
        }

        var e = Posix.OpenBeneath(_host.Tree.Fd, "."u8, OpenFlags.Path | OpenFlags.Directory, 0, out var fd);
        var held = new List<ViewGrant>();
        if (e == Errno.OK && fd is not null && Posix.Stat(fd, out var st) == Errno.OK)
        {
            foreach (var grant in live)
            {
                if (grant.Identity is { } recorded && SameObject(fd, st, recorded))
                {
                    held.Add(grant);
                }
                else
                {
                    _host.Stale(_vm, grant, grant.Identity is null ? "no identity was recorded" : "the granted directory was replaced or moved");
                }
            }

            if (held.Count > 0)
            {
                Rebind(new ViewNode(FuseSession.RootKey, null, [], [.. held], fd, true, st.Dev, st.Ino), current);
                return;
            }
        }
        else if (!e.IsTransient())
        {
            foreach (var grant in live)
            {
                _host.Stale(_vm, grant, $"the tree root cannot be reached ({e})");
            }
        }

        // A transient failure (ErrnoFacts.IsTransient: out of fds or memory) ends nothing: the next grant change binds the root again.
        fd?.Dispose();
        Rebind(_syntheticRoot, current);
    }

    private void Rebind(ViewNode root, ViewNode previous)
    {
        if (root == previous)
        {
            return;
        }

        root.AddReference();
        _root = root;
        _nodes[FuseSession.RootKey] = root;
        if (previous != _syntheticRoot)
        {
            // Closed once no operation has it pinned.
            CloseNodeFd(previous);
        }
    }

    /// <summary>The table node at a view node's place in the current table, or null when the table has nothing there.</summary>
    private TableNode? TableAt(ViewNode node) => node.TableIn(_table, Interlocked.Read(ref _layout));

    /// <summary>Whether a synthesized node still leads to a live grant in the current table.</summary>
    public bool LeadsToLiveGrant(ViewNode node) => TableAt(node) is { } t && LeadsToLiveGrant(t);

    private static bool LeadsToLiveGrant(TableNode node)
    {
        foreach (var g in node.Grants)
        {
            if (!g.Ended)
            {
                return true;
            }
        }

        foreach (var child in node.Children)
        {
            if (LeadsToLiveGrant(child))
            {
                return true;
            }
        }

        return false;
    }

    private static bool HasLiveGrant(TableNode node)
    {
        foreach (var g in node.Grants)
        {
            if (!g.Ended)
            {
                return true;
            }
        }

        return false;
    }

    // ---- attributes ------------------------------------------------------------------------

    private void FillSynthetic(ViewNode node, ref FuseAttr attr)
    {
        attr.Ino = node.Ino;
        // 0555: synthesized ancestors are read-only; 0755 where a named slot may be created (the
        // guest's kernel checks these bits itself under virtio-fs, which mounts default_permissions).
        attr.Mode = SIfDir | (TableAt(node) is { } t && HoldsCreatableSlot(t) ? 0x1EDu : 0x16Du);
        attr.Nlink = 2;
        attr.Uid = _settings.GuestUid;
        attr.Gid = _settings.GuestGid;
        attr.Blksize = 4096;
    }

    private Errno FillBacked(ViewNode node, ref FuseAttr attr)
    {
        var e = Posix.Stat(node.Fd!, out var st);
        if (e != Errno.OK)
        {
            return e;
        }

        Fill(st, node.Rights, ref attr);
        return Errno.OK;
    }

    private void Fill(in StatxResult st, Rights rights, ref FuseAttr attr)
    {
        attr.Ino = st.Ino;
        attr.Size = st.Size;
        attr.Blocks = st.Blocks;
        attr.Atime = (ulong)st.AtimeSec;
        attr.AtimeNsec = st.AtimeNsec;
        attr.Mtime = (ulong)st.MtimeSec;
        attr.MtimeNsec = st.MtimeNsec;
        attr.Ctime = (ulong)st.CtimeSec;
        attr.CtimeNsec = st.CtimeNsec;
        var mode = st.Mode & ~(st.IsDirectory ? 0xC00u : 0xE00u); // never show setuid or setgid bits, nor sticky on a non-directory
        if ((rights & (Rights.Write | Rights.Create | Rights.Delete | Rights.Rename)) == 0)
        {
            mode &= ~0x92u; // a read-only grant shows read-only permission bits
        }

        if (IsSpecial(st.Mode))
        {
            // Devices, FIFOs and sockets: shown as what they are, the guest's kernel would open them
            // itself, never asking the view (a FIFO blocks waiting for a peer, a device node reaches
            // a device of the guest's). As empty regular files without permissions, every open
            // comes to Open, which refuses.
            mode = SIfReg;
            attr.Size = 0;
            attr.Blocks = 0;
        }

        attr.Mode = mode;
        attr.Nlink = st.Nlink;
        attr.Uid = _settings.GuestUid;
        attr.Gid = _settings.GuestGid;
        attr.Rdev = 0;
        attr.Blksize = st.Blksize;
    }

    /// <summary>A device node, FIFO or socket: never opened on the host.</summary>
    private static bool IsSpecial(uint mode) => (mode & SIfMt) is not (SIfReg or SIfDir or SIfLnk);

    /// <summary>
    /// How long the kernel may cache an answer that holds until <paramref name="expiresAtMs"/>: the
    /// cache timeout, cut to what is left of the grant, so that no cached entry or attribute
    /// outlives an expiring grant (the expiry sweep, which notifies, may come later).
    /// </summary>
    private TimeSpan CacheFor(long expiresAtMs)
    {
        if (expiresAtMs == long.MaxValue)
        {
            return _settings.CacheTimeout;
        }

        var left = expiresAtMs - _nowMs();
        return left <= 0 ? TimeSpan.Zero : left >= _cacheMs ? _settings.CacheTimeout : TimeSpan.FromMilliseconds(left);
    }

    private void SetTimeouts(ref FuseEntryOut entry, long expiresAtMs)
    {
        var timeout = CacheFor(expiresAtMs);
        entry.SetEntryTimeout(timeout);
        entry.SetAttrTimeout(timeout);
    }

    /// <summary>How long a synthesized node's answers hold: until the last grant below it expires.</summary>
    private long SyntheticExpiry(ViewNode node) =>
        node.Parent is null ? long.MaxValue : TableAt(node)?.SubtreeExpiresAtMs ?? 0;

    // ---- lookup ----------------------------------------------------------------------------

    public override Errno Lookup(in FuseRequestContext context, ulong parent, ReadOnlySpan<byte> name, ref FuseEntryOut entry)
    {
        var p = Node(parent);
        if (p is null || (!p.IsSynthesized && !p.IsLive))
        {
            return Errno.ENOENT;
        }

        if (!p.IsDirectory)
        {
            return Errno.ENOTDIR;
        }

        if (name.SequenceEqual("."u8) || name.SequenceEqual(".."u8))
        {
            // EXPORT_SUPPORT asks for these; ".." of a view node is its view parent, never the host's.
            var target = name.Length == 1 || p.Parent is null ? p : p.Parent.Key == FuseSession.RootKey ? CurrentRoot : p.Parent;
            target.AddReference();
            entry.NodeId = target.Key;
            SetTimeouts(ref entry, target.IsSynthesized ? SyntheticExpiry(target) : target.ExpiresAtMs);
            if (target.IsSynthesized)
            {
                FillSynthetic(target, ref entry.Attr);
                return Errno.OK;
            }

            return FillBacked(target, ref entry.Attr);
        }

        return LookupIn(p, TableAt(p), name, ref entry);
    }

    /// <summary>
    /// A lookup in the live directory <paramref name="p"/>, whose node in the current table is
    /// <paramref name="at"/> (a listing finds it once for all its entries).
    /// </summary>
    private Errno LookupIn(ViewNode p, TableNode? at, ReadOnlySpan<byte> name, ref FuseEntryOut entry)
    {
        var tableChild = at?.Find(name);
        if (tableChild is not null && HasLiveGrant(tableChild))
        {
            return LookupGrantRoot(p, name, tableChild, ref entry);
        }

        if (!p.IsSynthesized)
        {
            return LookupBelow(p, name, ref entry);
        }

        if (tableChild is not null && LeadsToLiveGrant(tableChild))
        {
            var node = InternSynthetic(p, name, tableChild);
            entry.NodeId = node.Key;
            SetTimeouts(ref entry, tableChild.SubtreeExpiresAtMs);
            FillSynthetic(node, ref entry.Attr);
            return Errno.OK;
        }

        if (_scratchCount > 0 && at is not null && (tableChild is null || !LeadsToLiveGrant(tableChild)))
        {
            // A scratch file next to a slot (ViewFileSystem.Slots.cs): its name is only this view's.
            var found = LookupScratch(p, at, name, ref entry);
            if (found != Errno.ENOENT)
            {
                return found;
            }
        }

        // Not granted: the guest learns nothing, and the kernel caches the answer briefly
        // (a new grant invalidates it by notify).
        entry.SetEntryTimeout(_settings.CacheTimeout);
        return Errno.ENOENT;
    }

    /// <summary>
    /// A grant root: resolved from the tree root with openat2 (never through a symlink, a magic
    /// link or a mount), then checked against the identity recorded when the grant was made, on the
    /// very fd that is kept: resolved once, checked on what is held, used as held.
    /// </summary>
    private Errno LookupGrantRoot(ViewNode parent, ReadOnlySpan<byte> name, TableNode tableNode, ref FuseEntryOut entry)
    {
        ViewGrant? grant = null;
        foreach (var g in tableNode.Grants)
        {
            if (!g.Ended)
            {
                grant = g;
                break;
            }
        }

        if (grant is null)
        {
            return Errno.ENOENT;
        }

        var e = ResolveGrantRoot(grant, out var fd, out var st, out var why);
        if (e != Errno.OK)
        {
            if (why is not null)
            {
                _host.Stale(_vm, grant, why);
                entry.SetEntryTimeout(_settings.CacheTimeout);
            }

            // Absent for now (a file grant between an editor's unlink and create) or transient:
            // no negative entry is cached, so the very next lookup tries again.
            return e;
        }

        if (grant.IsDirectory ? !st.IsDirectory : !st.IsRegular)
        {
            // A file grant's name holding, for now, a directory, a symlink or a device: absent, not stale.
            fd!.Dispose();
            return Errno.ENOENT;
        }

        // The grants rooted here and the directory grants above (made once per table).
        e = InternBacked(parent, name, tableNode.Covering, fd!, st, out var node);
        if (e != Errno.OK)
        {
            return e;
        }

        entry.NodeId = node.Key;
        SetTimeouts(ref entry, node.ExpiresAtMs);
        Fill(st, node.Rights, ref entry.Attr);
        return Errno.OK;
    }

    /// <summary>
    /// Opens a grant root (O_PATH) and proves it is what was granted. A directory grant must still
    /// be the very directory that was granted (dev, inode, file handle): a replaced root makes the
    /// grant stale, never silently re-pointed. A file grant is checked against its directory, so an
    /// editor's atomic save (rename over) keeps working: the directory is opened and checked first,
    /// and the file is then opened below that same fd, so exchanging the directory with another
    /// after the check cannot redirect the open. On failure, <paramref name="stale"/> says why the
    /// grant is stale, or is null when the root is only absent for now or the error is transient.
    /// </summary>
    private Errno ResolveGrantRoot(ViewGrant grant, out SafeFd? fd, out StatxResult st, out string? stale)
    {
        st = default;
        stale = null;
        if (grant.IsDirectory || grant.ParentIdentity is null)
        {
            var e = Posix.OpenBeneath(_host.Tree.Fd, grant.PathBytes, OpenFlags.Path, 0, out fd);
            if (e != Errno.OK)
            {
                stale = e.IsTransient() ? null : $"the grant root cannot be reached ({e})";
                return e.IsTransient() ? e : Errno.ENOENT;
            }

            e = Posix.Stat(fd!, out st);
            var recorded = grant.Identity;
            if (e != Errno.OK || recorded is null || !SameObject(fd!, st, recorded.Value) || (grant.IsDirectory && !st.IsDirectory))
            {
                fd!.Dispose();
                fd = null;
                if (e != Errno.OK && e.IsTransient())
                {
                    return e;
                }

                stale = e != Errno.OK ? $"the grant root cannot be examined ({e})"
                    : recorded is null ? "no identity was recorded"
                    : grant.IsDirectory ? "the granted directory was replaced or moved" : "the granted file was replaced or moved";
                return Errno.ENOENT;
            }

            return Errno.OK;
        }

        fd = null;
        var de = OpenGrantDirectory(grant, out var directory, out stale);
        if (de != Errno.OK)
        {
            return de;
        }

        using (directory)
        {
            var e = Posix.OpenBeneath(directory ?? _host.Tree.Fd, grant.NameBytes, OpenFlags.Path, 0, out fd);
            if (e == Errno.OK)
            {
                e = Posix.Stat(fd!, out st);
                if (e != Errno.OK)
                {
                    fd!.Dispose();
                    fd = null;
                }
            }

            // Absent (or transient): the directory holds, so the grant does. A named slot whose
            // file is not made yet is this case too: ENOENT, never stale, and no negative entry.
            return e == Errno.OK ? Errno.OK : e.IsTransient() ? e : Errno.ENOENT;
        }
    }

    /// <summary>
    /// Opens the directory holding a file grant's root (O_PATH) and checks it against the identity
    /// recorded with the grant. <paramref name="directory"/> is null when it is the tree root (use
    /// the tree fd). On failure, <paramref name="stale"/> says why the grant is stale, or is null
    /// when the error is transient.
    /// </summary>
    private Errno OpenGrantDirectory(ViewGrant grant, out SafeFd? directory, out string? stale)
    {
        stale = null;
        directory = null;
        var e = grant.DirectoryBytes.Length == 0 ? Errno.OK
            : Posix.OpenBeneath(_host.Tree.Fd, grant.DirectoryBytes, OpenFlags.Path | OpenFlags.Directory, 0, out directory);
        var dirFd = directory ?? _host.Tree.Fd;
        var st = default(StatxResult);
        if (e == Errno.OK)
        {
            e = Posix.Stat(dirFd, out st);
        }

        if (e == Errno.OK && (grant.ParentIdentity is not { } recorded || !SameObject(dirFd, st, recorded)))
        {
            stale = "the directory of the granted file was replaced or moved";
            e = Errno.ENOENT;
        }
        else if (e != Errno.OK)
        {
            stale = e.IsTransient() ? null : $"the directory of the granted file cannot be reached ({e})";
            e = e.IsTransient() ? e : Errno.ENOENT;
        }

        if (e != Errno.OK)
        {
            directory?.Dispose();
            directory = null;
        }

        return e;
    }

    /// <summary>
    /// Whether the object <paramref name="fd"/> holds is the one <paramref name="recorded"/> names:
    /// same device and inode, and the same file handle when both have one (the handle carries the
    /// generation, so a reused inode number differs). No allocation.
    /// </summary>
    private static bool SameObject(SafeFd fd, in StatxResult st, FileIdentity recorded)
    {
        if (st.Dev != recorded.Dev || st.Ino != recorded.Ino)
        {
            return false;
        }

        if (recorded.Handle is not { } expected)
        {
            return true;
        }

        Span<byte> handle = stackalloc byte[Posix.MaxHandleSize];
        var e = Posix.GetHandle(fd, handle, out var type, out var length);
        return e != Errno.OK ? e == Errno.EOPNOTSUPP : type == recorded.HandleType && handle[..length].SequenceEqual(expected);
    }

    /// <summary>
    /// One component below a backed directory, resolved on the parent's fd with openat2
    /// (RESOLVE_BENEATH | RESOLVE_NO_XDEV | RESOLVE_NO_SYMLINKS, O_PATH | O_NOFOLLOW): a symlink is
    /// returned as itself, and a mount point inside a granted directory, bind mounts of the same
    /// filesystem included, is not crossed (EXDEV, shown as ENOENT). One openat2 and one statx,
    /// whose result is also the answer's attributes.
    /// </summary>
    private Errno LookupBelow(ViewNode parent, ReadOnlySpan<byte> name, ref FuseEntryOut entry)
    {
        if (TooLong(parent, name))
        {
            return Errno.ENAMETOOLONG;
        }

        var e = Posix.OpenBeneath(parent.Fd!, name, OpenFlags.Path, 0, out var fd);
        if (e != Errno.OK || fd is null)
        {
            entry.SetEntryTimeout(_settings.CacheTimeout);
            return e is Errno.OK or Errno.EXDEV ? Errno.ENOENT : e;
        }

        e = Posix.Stat(fd, out var st);
        if (e != Errno.OK)
        {
            fd.Dispose();
            return e;
        }

        e = InternBacked(parent, name, Inherited(parent), fd, st, out var node);
        if (e != Errno.OK)
        {
            return e;
        }

        entry.NodeId = node.Key;
        SetTimeouts(ref entry, node.ExpiresAtMs);
        Fill(st, node.Rights, ref entry.Attr);
        return Errno.OK;
    }

    /// <summary>
    /// A name that would make a view path longer than PATH_MAX (4095 bytes and the NUL), or a
    /// component longer than NAME_MAX: ENAMETOOLONG, as a native filesystem's path walk answers.
    /// This bounds how deep a guest can nest directories through the view.
    /// </summary>
    private static bool TooLong(ViewNode parent, ReadOnlySpan<byte> name) =>
        name.Length > Posix.NameMax || parent.PathLength + 1 + name.Length >= Posix.PathMax;

    /// <summary>A child below a backed directory is covered by the parent's live directory grants.</summary>
    private static ViewGrant[] Inherited(ViewNode parent)
    {
        var count = 0;
        foreach (var g in parent.Grants)
        {
            if (g.IsDirectory)
            {
                count++;
            }
        }

        if (count == parent.Grants.Length)
        {
            return parent.Grants;
        }

        var result = new ViewGrant[count];
        var i = 0;
        foreach (var g in parent.Grants)
        {
            if (g.IsDirectory)
            {
                result[i++] = g;
            }
        }

        return result;
    }

    // ---- checks ----------------------------------------------------------------------------

    /// <summary>A node the guest may use: synthesized and still leading to a grant, or backed under a live grant.</summary>
    private ViewNode? Live(ulong key)
    {
        var node = Node(key);
        if (node is null)
        {
            return null;
        }

        if (node.IsSynthesized)
        {
            // The view root always exists (empty when no grant is live): the guest's mount point never vanishes.
            var t = TableAt(node);
            return node.Parent is null || (t is not null && LeadsToLiveGrant(t)) ? node : null;
        }

        return node.IsLive ? node : null;
    }

    /// <summary>
    /// A refusal, for the aggregated deny records: scoped by the grant the node is under (or, for
    /// a synthesized directory, its place in the table), with the name as a sample. No path is
    /// made: a guest nesting directories deep cannot make a refusal cost more than a name.
    /// </summary>
    private Errno Deny(string op, ViewNode node, ReadOnlySpan<byte> name = default, Errno errno = Errno.EACCES)
    {
        var scope = node.Innermost?.Path.Value ?? TableAt(node)?.Path ?? ".";
        _host.Denied(_vm, op, scope, name.IsEmpty ? node.Name : name);
        return errno;
    }

    // ---- attributes ------------------------------------------------------------------------

    public override Errno GetAttr(in FuseRequestContext context, ulong node, ulong? fh, ref FuseAttrOut attr)
    {
        var n = Live(node);
        if (n is null)
        {
            return Errno.ENOENT;
        }

        if (n.IsSynthesized)
        {
            attr.SetAttrTimeout(CacheFor(SyntheticExpiry(n)));
            FillSynthetic(n, ref attr.Attr);
            return Errno.OK;
        }

        attr.SetAttrTimeout(CacheFor(n.ExpiresAtMs));
        return FillBacked(n, ref attr.Attr);
    }

    public override Errno SetAttr(in FuseRequestContext context, ulong node, in FuseSetAttrIn changes, ref FuseAttrOut attr)
    {
        var n = Live(node);
        if (n is null)
        {
            return Errno.ENOENT;
        }

        if (n.IsSynthesized)
        {
            return Deny("setattr", n);
        }

        var rights = n.Rights;
        var valid = changes.Valid;
        if ((valid & (FuseSetAttrValid.Uid | FuseSetAttrValid.Gid)) != 0 && !ChownChangesNothing(changes, valid))
        {
            return Deny("chown", n, errno: Errno.EPERM);
        }

        if ((valid & FuseSetAttrValid.Mode) != 0)
        {
            if ((rights & Rights.SetAttr) == 0)
            {
                return Deny("chmod", n);
            }

            if ((changes.Mode & 0xE00 & ~AllowedModeBits(n)) != 0)
            {
                return Deny("setuid", n, errno: Errno.EPERM);
            }

            var e = Posix.Chmod(n.Fd!, changes.Mode & AllowedModeBits(n));
            if (e != Errno.OK)
            {
                return e;
            }
        }

        if ((valid & FuseSetAttrValid.Size) != 0)
        {
            if ((rights & Rights.Write) == 0 && !HandleCanWrite(changes, valid))
            {
                return Deny("truncate", n);
            }

            var e = Truncate(n, changes, valid);
            if (e != Errno.OK)
            {
                return e;
            }
        }

        if ((valid & (FuseSetAttrValid.Atime | FuseSetAttrValid.Mtime | FuseSetAttrValid.AtimeNow | FuseSetAttrValid.MtimeNow)) != 0)
        {
            if ((rights & (Rights.SetAttr | Rights.Write)) == 0)
            {
                return Deny("utimens", n);
            }

            var atime = (valid & FuseSetAttrValid.AtimeNow) != 0 ? PosixTime.Now
                : (valid & FuseSetAttrValid.Atime) != 0 ? new PosixTime((long)changes.Atime, changes.AtimeNsec)
                : PosixTime.Omit;
            var mtime = (valid & FuseSetAttrValid.MtimeNow) != 0 ? PosixTime.Now
                : (valid & FuseSetAttrValid.Mtime) != 0 ? new PosixTime((long)changes.Mtime, changes.MtimeNsec)
                : PosixTime.Omit;
            var e = Posix.SetTimes(n.Fd!, atime, mtime);
            if (e != Errno.OK)
            {
                return e;
            }
        }

        attr.SetAttrTimeout(CacheFor(n.ExpiresAtMs));
        return FillBacked(n, ref attr.Attr);
    }

    private bool HandleCanWrite(in FuseSetAttrIn changes, FuseSetAttrValid valid) =>
        (valid & FuseSetAttrValid.Fh) != 0 && _handles.TryGetValue(changes.Fh, out var h) && h.CanWrite && h.IsLive;

    private Errno Truncate(ViewNode n, in FuseSetAttrIn changes, FuseSetAttrValid valid)
    {
        if ((valid & FuseSetAttrValid.Fh) != 0 && _handles.TryGetValue(changes.Fh, out var h) && h.Fd is not null && h.CanWrite)
        {
            return Posix.Ftruncate(h.Fd, (long)changes.Size);
        }

        if (n.IsDirectory)
        {
            return Errno.EISDIR;
        }

        // Reopening a FIFO for writing blocks, and a device node reaches the device: only regular files.
        var e = Posix.Stat(n.Fd!, out var st);
        if (e != Errno.OK || (st.Mode & SIfMt) != SIfReg)
        {
            return e != Errno.OK ? e : Deny("truncate-special", n, errno: Errno.EINVAL);
        }

        e = Posix.Reopen(n.Fd!, OpenFlags.WriteOnly, out var fd);
        if (e != Errno.OK)
        {
            return e;
        }

        using (fd)
        {
            return Posix.Ftruncate(fd!, (long)changes.Size);
        }
    }

    public override Errno Access(in FuseRequestContext context, ulong node, int mask)
    {
        var n = Live(node);
        if (n is null)
        {
            return Errno.ENOENT;
        }

        var rights = !n.IsSynthesized ? n.Rights : TableAt(n) is { } t && HoldsCreatableSlot(t) ? Rights.Read | Rights.Create : Rights.Read;
        if ((mask & 2) != 0 && (rights & (Rights.Write | Rights.Create | Rights.Delete | Rights.Rename)) == 0)
        {
            return Errno.EACCES;
        }

        return (mask & 4) != 0 && (rights & Rights.Read) == 0 ? Errno.EACCES : Errno.OK;
    }

    public override Errno Readlink(in FuseRequestContext context, ulong node, Span<byte> target, out int length)
    {
        length = 0;
        var n = Live(node);
        if (n is null || n.IsSynthesized)
        {
            return Errno.ENOENT;
        }

        // The target is shown as it is; the guest resolves it inside its own view, the host never does.
        return (n.Rights & Rights.Read) == 0 ? Deny("readlink", n) : Posix.ReadLink(n.Fd!, target, out length);
    }

    public override Errno StatFs(in FuseRequestContext context, ulong node, ref FuseKStatfs stat)
    {
        var n = Node(node);
        var e = Posix.Statfs(n?.Fd ?? _host.Tree.Fd, out var s);
        if (e != Errno.OK)
        {
            return e;
        }

        stat.Blocks = s.Blocks;
        stat.Bfree = s.Bfree;
        stat.Bavail = s.Bavail;
        stat.Files = s.Files;
        stat.Ffree = s.Ffree;
        stat.Bsize = (uint)s.Bsize;
        stat.Namelen = (uint)s.Namelen;
        stat.Frsize = (uint)s.Frsize;
        return Errno.OK;
    }

    // ---- files -----------------------------------------------------------------------------

    public override Errno Open(in FuseRequestContext context, ulong node, int flags, ref FuseOpenOut open)
    {
        var n = Live(node);
        if (n is null)
        {
            return Errno.ENOENT;
        }

        if (n.IsSynthesized || n.IsDirectory)
        {
            return Errno.EISDIR;
        }

        var e = Posix.Stat(n.Fd!, out var st);
        if (e != Errno.OK)
        {
            return e;
        }

        if ((st.Mode & SIfMt) != SIfReg)
        {
            // Devices, FIFOs and sockets are shown but never opened on the host: opening one could block or reach a device.
            return Deny("open-special", n);
        }

        var access = (OpenFlags)flags & OpenFlags.AccessModeMask;
        var wantsWrite = access != OpenFlags.ReadOnly || ((OpenFlags)flags & OpenFlags.Truncate) != 0;
        var wantsRead = access != OpenFlags.WriteOnly;
        var rights = n.Rights;
        if ((wantsRead && (rights & Rights.Read) == 0) || (wantsWrite && (rights & Rights.Write) == 0))
        {
            return Deny(wantsWrite ? "open-write" : "open-read", n);
        }

        const OpenFlags Kept = OpenFlags.AccessModeMask | OpenFlags.Append | OpenFlags.Truncate | OpenFlags.NonBlock;
        e = Posix.Reopen(n.Fd!, ((OpenFlags)flags & Kept) | OpenFlags.NoFollow, out var fd);
        if (e != Errno.OK)
        {
            return e;
        }

        e = Register(n, fd!, wantsWrite, isDirectory: false, ref open);
        if (e == Errno.OK && !open.OpenFlags.HasFlag(FuseOpenFlags.Passthrough) && n.KeepCacheOnOpen(st, ((OpenFlags)flags & OpenFlags.Truncate) != 0))
        {
            open.OpenFlags |= FuseOpenFlags.KeepCache;
        }

        return e;
    }

    private Errno Register(ViewNode n, SafeFd fd, bool canWrite, bool isDirectory, ref FuseOpenOut open)
    {
        var e = TakeHandleSlot(directory: false);
        if (e != Errno.OK)
        {
            fd.Dispose();
            return e;
        }

        var fh = (ulong)Interlocked.Increment(ref _nextHandle);
        var passthrough = false;
        if (!isDirectory && _backing is not null)
        {
            // Kernel passthrough: reads and writes go to the backing file without a round trip.
            // Such a file stays readable until closed after a revoke (documented, opt-in per VM).
            // The kernel ties an inode to one backing file, shared by all its passthrough opens, so
            // it is opened read-write whenever this node may be written, not with this open's mode.
            var writable = canWrite || (n.Rights & Rights.Write) != 0;
            if (Posix.Reopen(n.Fd!, writable ? OpenFlags.ReadWrite : OpenFlags.ReadOnly, out var backingFd) == Errno.OK)
            {
                using (backingFd)
                {
                    var id = _backing.Acquire(n.Key, backingFd!);
                    if (id > 0)
                    {
                        open.BackingId = id;
                        open.OpenFlags |= FuseOpenFlags.Passthrough;
                        passthrough = true;
                    }
                }
            }
        }

        _handles[fh] = new ViewHandle(n, fd, canWrite, isDirectory) { Passthrough = passthrough };
        open.Fh = fh;
        if (!isDirectory)
        {
            // Flush has nothing to do (POSIX locks are the kernel's, data is written through): a
            // close costs no round trip.
            open.OpenFlags |= FuseOpenFlags.NoFlush;
        }

        return Errno.OK;
    }

    private ViewHandle? Handle(ulong fh) =>
        _handles.TryGetValue(fh, out var h) && h.IsLive ? h : null;

    public override Errno Read(in FuseRequestContext context, ulong node, ulong fh, ulong offset, Span<byte> buffer, out int bytesRead)
    {
        bytesRead = 0;
        var h = Handle(fh);
        return h?.Fd is null ? Errno.EACCES : Posix.PRead(h.Fd, buffer, (long)offset, out bytesRead);
    }

    public override Errno Write(in FuseRequestContext context, ulong node, ulong fh, ulong offset, ReadOnlySpan<byte> data, FuseWriteFlags flags, out int bytesWritten)
    {
        bytesWritten = 0;
        var h = Handle(fh);
        return h?.Fd is null || !h.CanWrite ? Errno.EACCES : Posix.PWrite(h.Fd, data, (long)offset, out bytesWritten);
    }

    public override Errno Flush(in FuseRequestContext context, ulong node, ulong fh, ulong lockOwner) => Errno.OK;

    /// <summary>
    /// Takes a slot for an open file or directory: EMFILE past the VM's limit (<see cref="ViewLimits"/>),
    /// ENFILE past the broker's total (<see cref="ViewBudget"/>), as a process and a system would answer.
    /// </summary>
    private Errno TakeHandleSlot(bool directory)
    {
        ref var count = ref directory ? ref _openDirectories : ref _openHandles;
        if (!ViewBudget.TryTake(ref count, directory ? _settings.Limits.DirectoryStreams : _settings.Limits.Handles))
        {
            return Errno.EMFILE;
        }

        if (!(directory ? _settings.Budget.TryTakeDirectoryStream() : _settings.Budget.TryTakeHandle()))
        {
            Interlocked.Decrement(ref count);
            return Errno.ENFILE;
        }

        return Errno.OK;
    }

    private void ReturnHandleSlot(bool directory)
    {
        if (directory)
        {
            Interlocked.Decrement(ref _openDirectories);
            _settings.Budget.ReturnDirectoryStream();
        }
        else
        {
            Interlocked.Decrement(ref _openHandles);
            _settings.Budget.ReturnHandle();
        }
    }

    public override Errno Release(in FuseRequestContext context, ulong node, ulong fh, int flags, FuseReleaseFlags releaseFlags, ulong lockOwner)
    {
        if (_handles.TryRemove(fh, out var h))
        {
            ReturnHandleSlot(directory: false);
            h.Fd?.Dispose();
            if (h.Passthrough)
            {
                _backing?.Release(h.Node.Key);
            }
        }

        return Errno.OK;
    }

    public override Errno Fsync(in FuseRequestContext context, ulong node, ulong fh, bool dataOnly)
    {
        var h = Handle(fh);
        return h?.Fd is null ? Errno.EACCES : dataOnly ? Posix.Fdatasync(h.Fd) : Posix.Fsync(h.Fd);
    }

    public override Errno Fallocate(in FuseRequestContext context, ulong node, ulong fh, ulong offset, ulong length, int mode)
    {
        var h = Handle(fh);
        return h?.Fd is null || !h.CanWrite ? Errno.EACCES : Posix.Fallocate(h.Fd, (FallocateMode)mode, (long)offset, (long)length);
    }

    public override Errno Lseek(in FuseRequestContext context, ulong node, ulong fh, ulong offset, int whence, out ulong result)
    {
        result = 0;
        var h = Handle(fh);
        if (h?.Fd is null)
        {
            return Errno.EACCES;
        }

        var e = Posix.Seek(h.Fd, (long)offset, (SeekWhence)whence, out var position);
        result = (ulong)position;
        return e;
    }

    public override Errno CopyFileRange(in FuseRequestContext context, ulong nodeIn, ulong fhIn, ulong offsetIn, ulong nodeOut, ulong fhOut, ulong offsetOut, ulong length, ulong flags, out ulong copied)
    {
        copied = 0;
        var input = Handle(fhIn);
        var output = Handle(fhOut);
        if (input?.Fd is null || output?.Fd is null || !output.CanWrite)
        {
            return Errno.EACCES;
        }

        var e = Posix.CopyFileRange(input.Fd, (long)offsetIn, output.Fd, (long)offsetOut, (long)length, out var n);
        copied = (ulong)n;
        return e;
    }

    // ---- directories -----------------------------------------------------------------------

    public override Errno OpenDir(in FuseRequestContext context, ulong node, int flags, ref FuseOpenOut open)
    {
        var n = Live(node);
        if (n is null)
        {
            return Errno.ENOENT;
        }

        if (!n.IsDirectory)
        {
            return Errno.ENOTDIR;
        }

        var slot = TakeHandleSlot(directory: true);
        if (slot != Errno.OK)
        {
            return slot;
        }

        var opened = false;
        try
        {
            return OpenDirectory(n, ref open, out opened);
        }
        finally
        {
            if (!opened)
            {
                ReturnHandleSlot(directory: true);
            }
        }
    }

    private Errno OpenDirectory(ViewNode n, ref FuseOpenOut open, out bool opened)
    {
        opened = false;
        if (n.IsSynthesized)
        {
            var t = TableAt(n);
            var children = new List<TableNode>();
            foreach (var child in t?.Children ?? [])
            {
                if (LeadsToLiveGrant(child))
                {
                    children.Add(child);
                }
            }

            var fh = (ulong)Interlocked.Increment(ref _nextHandle);
            _handles[fh] = new ViewHandle(n, null, false, true) { SyntheticEntries = [.. children], ScratchEntries = ScratchEntries(t) };
            open.Fh = fh;
            opened = true;
            return Errno.OK;
        }

        if ((n.Rights & Rights.Read) == 0)
        {
            return Deny("readdir", n);
        }

        var e = Posix.Reopen(n.Fd!, OpenFlags.ReadOnly | OpenFlags.Directory, out var fd);
        if (e != Errno.OK)
        {
            return e;
        }

        var handle = (ulong)Interlocked.Increment(ref _nextHandle);
        _handles[handle] = new ViewHandle(n, fd, false, true) { MountPoints = _host.Tree.Mounts.In(n.Dev, n.Ino), Stream = new DirectoryStream() };
        open.Fh = handle;
        opened = true;
        return Errno.OK;
    }

    public override Errno ReleaseDir(in FuseRequestContext context, ulong node, ulong fh, int flags)
    {
        if (_handles.TryRemove(fh, out var h))
        {
            ReturnHandleSlot(directory: true);
            h.Fd?.Dispose();
            h.Stream?.Dispose();
        }

        return Errno.OK;
    }

    public override Errno FsyncDir(in FuseRequestContext context, ulong node, ulong fh, bool dataOnly)
    {
        var h = Handle(fh);
        return h?.Fd is null ? Errno.OK : Posix.Fsync(h.Fd);
    }

    // ---- creating and removing ---------------------------------------------------------------

    /// <summary>The backed, live parent directory in which <paramref name="op"/> needs <paramref name="needed"/>.</summary>
    private Errno WritableParent(ulong parent, ReadOnlySpan<byte> name, Rights needed, string op, out ViewNode? dir)
    {
        dir = Live(parent);
        if (dir is null)
        {
            return Errno.ENOENT;
        }

        if (dir.IsSynthesized)
        {
            // Nothing can be made or removed in a synthesized directory: it only leads to grants.
            return Deny(op, dir, name);
        }

        if (TooLong(dir, name))
        {
            return Errno.ENAMETOOLONG;
        }

        return (dir.Rights & needed) != needed ? Deny(op, dir, name) : Errno.OK;
    }

    /// <summary>Files created through a view belong to the tree's owner, whoever the guest is.</summary>
    private void GiveToOwner(SafeFd fd) => Posix.Chown(fd, _host.Tree.OwnerUid, _host.Tree.OwnerGid);

    private Errno EntryFor(ViewNode dir, ReadOnlySpan<byte> name, ref FuseEntryOut entry) => LookupBelow(dir, name, ref entry);

    public override Errno Create(in FuseRequestContext context, ulong parent, ReadOnlySpan<byte> name, int flags, uint mode, uint umask, ref FuseEntryOut entry, ref FuseOpenOut open)
    {
        var made = CreateInSlot(context, parent, name, flags, mode, umask, withHandle: true, ref entry, ref open, out var handled);
        if (handled)
        {
            return made;
        }

        var e = WritableParent(parent, name, Rights.Create, "create", out var dir);
        if (e != Errno.OK)
        {
            return e;
        }

        var access = (OpenFlags)flags & OpenFlags.AccessModeMask;
        if (access != OpenFlags.WriteOnly && (dir!.Rights & Rights.Read) == 0)
        {
            access = OpenFlags.WriteOnly;
        }

        // Always O_EXCL | O_NOFOLLOW on the host: only a new file is created and handed over with
        // write access. A name that exists by now (the guest's kernel believed it absent) is never
        // followed (a dangling symlink pointing outside), never opened if it is a device or a FIFO,
        // and never opened for writing without `write`: it is opened by the rules of Open.
        var kept = (OpenFlags)flags & (OpenFlags.Truncate | OpenFlags.Append);
        e = Posix.OpenAt(dir!.Fd!, name, access | kept | OpenFlags.Create | OpenFlags.Exclusive | OpenFlags.NoFollow, mode & 0x1FF & ~umask, out var fd);
        if (e == Errno.EEXIST && ((OpenFlags)flags & OpenFlags.Exclusive) == 0)
        {
            e = EntryFor(dir, name, ref entry);
            if (e != Errno.OK)
            {
                return e;
            }

            var existing = Node(entry.NodeId)!;
            e = Open(context, existing.Key, flags & ~(int)(OpenFlags.Create | OpenFlags.Exclusive), ref open);
            if (e != Errno.OK)
            {
                Forget(existing.Key, 1);
                entry = default;
                return e;
            }

            return FillBacked(existing, ref entry.Attr); // as opened (O_TRUNC has emptied it)
        }

        if (e != Errno.OK)
        {
            return e;
        }

        GiveToOwner(fd!);
        SetCreationMode(fd!, mode, umask, directory: false);
        e = EntryFor(dir, name, ref entry);
        if (e != Errno.OK)
        {
            fd!.Dispose();
            return e;
        }

        // The creating handle may write what it created, even under a grant without `write` (read,create).
        return Register(Node(entry.NodeId)!, fd!, canWrite: true, isDirectory: false, ref open);
    }

    public override Errno Mknod(in FuseRequestContext context, ulong parent, ReadOnlySpan<byte> name, uint mode, uint rdev, uint umask, ref FuseEntryOut entry)
    {
        if ((mode & SIfMt) == SIfReg)
        {
            var noHandle = default(FuseOpenOut);
            var made = CreateInSlot(context, parent, name, (int)OpenFlags.WriteOnly, mode, umask, withHandle: false, ref entry, ref noHandle, out var handled);
            if (handled)
            {
                return made;
            }
        }

        var e = WritableParent(parent, name, Rights.Create, "mknod", out var dir);
        if (e != Errno.OK)
        {
            return e;
        }

        if ((mode & SIfMt) != SIfReg)
        {
            return Deny("mknod-special", dir!, name, Errno.EPERM);
        }

        e = Posix.OpenAt(dir!.Fd!, name, OpenFlags.WriteOnly | OpenFlags.Create | OpenFlags.Exclusive | OpenFlags.NoFollow, mode & 0x1FF & ~umask, out var fd);
        if (e != Errno.OK)
        {
            return e;
        }

        using (fd)
        {
            GiveToOwner(fd!);
            SetCreationMode(fd!, mode, umask, directory: false);
        }

        return EntryFor(dir, name, ref entry);
    }

    public override Errno Mkdir(in FuseRequestContext context, ulong parent, ReadOnlySpan<byte> name, uint mode, uint umask, ref FuseEntryOut entry)
    {
        var e = WritableParent(parent, name, Rights.Create, "mkdir", out var dir);
        if (e != Errno.OK)
        {
            return e;
        }

        e = Posix.MkdirAt(dir!.Fd!, name, mode & 0x1FF & ~umask);
        if (e != Errno.OK)
        {
            return e;
        }

        e = EntryFor(dir, name, ref entry);
        if (e == Errno.OK)
        {
            GiveToOwner(Node(entry.NodeId)!.Fd!);
            var made = Node(entry.NodeId)!;
            SetCreationMode(made.Fd!, mode, umask, directory: true);
            e = FillBacked(made, ref entry.Attr); // the entry the kernel caches shows the mode just set
        }

        return e;
    }

    public override Errno Symlink(in FuseRequestContext context, ulong parent, ReadOnlySpan<byte> name, ReadOnlySpan<byte> target, ref FuseEntryOut entry)
    {
        var e = WritableParent(parent, name, Rights.Create, "symlink", out var dir);
        if (e != Errno.OK)
        {
            return e;
        }

        // Stored verbatim; the host never resolves it (every host lookup is O_NOFOLLOW / RESOLVE_NO_SYMLINKS).
        e = Posix.SymlinkAt(target, dir!.Fd!, name);
        if (e != Errno.OK)
        {
            return e;
        }

        e = EntryFor(dir, name, ref entry);
        if (e == Errno.OK)
        {
            GiveToOwner(Node(entry.NodeId)!.Fd!);
        }

        return e;
    }

    public override Errno Unlink(in FuseRequestContext context, ulong parent, ReadOnlySpan<byte> name)
    {
        var removed = UnlinkScratch(parent, name, out var handled);
        if (handled)
        {
            return removed;
        }

        var e = WritableParent(parent, name, Rights.Delete, "unlink", out var dir);
        return e != Errno.OK ? e : Posix.UnlinkAt(dir!.Fd!, name, directory: false);
    }

    public override Errno Rmdir(in FuseRequestContext context, ulong parent, ReadOnlySpan<byte> name)
    {
        var e = WritableParent(parent, name, Rights.Delete, "rmdir", out var dir);
        return e != Errno.OK ? e : Posix.UnlinkAt(dir!.Fd!, name, directory: true);
    }

    public override Errno Rename(in FuseRequestContext context, ulong parent, ReadOnlySpan<byte> name, ulong newParent, ReadOnlySpan<byte> newName, FuseRenameFlags flags)
    {
        var renamed = RenameScratch(parent, name, newParent, newName, flags, out var handled);
        if (handled)
        {
            return renamed;
        }

        var e = WritableParent(parent, name, Rights.Rename, "rename", out var from);
        if (e != Errno.OK)
        {
            return e;
        }

        e = WritableParent(newParent, newName, Rights.Rename, "rename", out var to);
        if (e != Errno.OK)
        {
            return e;
        }

        if (from!.Innermost != to!.Innermost)
        {
            // Renames never cross a grant boundary.
            return Deny("rename-across-grants", from, name, Errno.EXDEV);
        }

        if ((flags & ~(FuseRenameFlags.NoReplace | FuseRenameFlags.Exchange)) != 0)
        {
            return Errno.EINVAL;
        }

        var exchange = (flags & FuseRenameFlags.Exchange) != 0;
        if (!MayHoldUnder(to, newName, from.Rights) || (exchange && !MayHoldUnder(from, name, to.Rights)))
        {
            return Deny("rename-onto-file-grant", to, newName);
        }

        var replaces = (flags & FuseRenameFlags.NoReplace) == 0 && Posix.StatAt(to.Fd!, newName, out _) == Errno.OK;
        if (replaces && !exchange && (to.Rights & Rights.Delete) == 0)
        {
            return Deny("rename-replace", to, newName);
        }

        e = Posix.RenameAt(from.Fd!, name, to.Fd!, newName, (RenameFlags)(uint)flags);
        if (e == Errno.OK)
        {
            Moved(to, newName);
            if (exchange)
            {
                Moved(from, name);
            }
        }

        return e;
    }

    /// <summary>
    /// Whether an object the guest reached with <paramref name="rights"/> may come to lie at
    /// <paramref name="name"/> in <paramref name="dir"/> (by rename, exchange or link). A file
    /// grant is checked against its directory only (so that an editor's save by rename keeps it),
    /// so an object moved under a file grant's name would be served with that grant's rights: it
    /// may only be one the guest already had those rights on. Without this, `create,rename` on a
    /// folder and `ro` on one file in it would read any file of the folder by exchanging it in.
    /// </summary>
    private bool MayHoldUnder(ViewNode dir, ReadOnlySpan<byte> name, Rights rights)
    {
        var target = TableAt(dir)?.Find(name);
        if (target is null)
        {
            return true;
        }

        foreach (var g in target.Grants)
        {
            if (!g.Ended && !g.IsDirectory && (rights & g.Rights) != g.Rights)
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>A directory renamed through the view: its node's place follows (for "..", and for where the table puts it).</summary>
    private void Moved(ViewNode dir, ReadOnlySpan<byte> name)
    {
        if (Posix.StatAt(dir.Fd!, name, out var st) != Errno.OK || !st.IsDirectory)
        {
            return;
        }

        lock (_nodeLock)
        {
            if (_byObject.TryGetValue(new NodeObject(st.Dev, st.Ino, Inherited(dir)), out var moved))
            {
                moved.Move(dir, name.ToArray());
                Interlocked.Increment(ref _layout);
            }
        }
    }

    public override Errno Link(in FuseRequestContext context, ulong node, ulong newParent, ReadOnlySpan<byte> newName, ref FuseEntryOut entry)
    {
        var source = Live(node);
        if (source is null || source.IsSynthesized)
        {
            return Errno.ENOENT;
        }

        var e = WritableParent(newParent, newName, Rights.Create, "link", out var dir);
        if (e != Errno.OK)
        {
            return e;
        }

        if (source.IsDirectory || source.Innermost != dir!.Innermost || source.Innermost?.IsDirectory != true)
        {
            // Hard links never cross grants (and a granted file is its own grant).
            return Deny("link-across-grants", dir!, newName, Errno.EXDEV);
        }

        if (!MayHoldUnder(dir, newName, source.Rights))
        {
            return Deny("link-onto-file-grant", dir, newName);
        }

        e = Posix.LinkFd(source.Fd!, dir.Fd!, newName);
        return e != Errno.OK ? e : EntryFor(dir, newName, ref entry);
    }

    public override void Destroy()
    {
        RemoveScratch(all: true);
        foreach (var (fh, h) in _handles)
        {
            if (_handles.TryRemove(fh, out _))
            {
                ReturnHandleSlot(h.IsDirectory);
                h.Fd?.Dispose();
                h.Stream?.Dispose();
            }
        }

        foreach (var n in _nodes.Values)
        {
            CloseNodeFd(n);
        }

        _nodes.Clear();
        lock (_nodeLock)
        {
            _byObject.Clear();
            _synthetic.Clear();
        }

        _mountFd?.Dispose();
    }

    /// <summary>Handles still open on nodes under <paramref name="grant"/> (for the passthrough note).</summary>
    public int OpenHandlesUnder(ViewGrant grant) => _handles.Values.Count(h => h.Node.Grants.Contains(grant));
}
