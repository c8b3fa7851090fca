using Spectrum.Capabilities;
using Spectrum.Interop;

namespace Spectrum.Broker.Views;

/// <summary>
/// A node of a view, as the FUSE session knows it by its key. Either <b>synthesized</b> (the view
/// root or an ancestor of grant roots: read-only, listing only what leads to grants) or
/// <b>backed</b> (a host object below a grant root, reached through an O_PATH fd resolved once, so
/// that no later operation ever resolves a host path string again).
/// </summary>
/// <remarks>
/// <para>A backed node is one host object under one set of grants: two names of one file (hard
/// links) under the same grants are one node, so the kernel caches one inode for both, as it does
/// on a native filesystem. <see cref="Parent"/> and <see cref="Name"/> are the name it was first
/// found by (a directory has only one), for <c>..</c> and for invalidation.</para>
/// <para>No node keeps its path: a path is made only where a record needs one, from the grant
/// root (<see cref="ViewGrant.Path"/>) and a name, so memory grows with the number of nodes, never
/// with their depth. <see cref="PathLength"/> bounds the depth: no view path grows past PATH_MAX.</para>
/// <para>The O_PATH fd may be given back under fd pressure (see <c>ViewFileSystem.Nodes.cs</c>) and is
/// opened again from the file handle taken at that moment, which names the same object.</para>
/// </remarks>
internal sealed class ViewNode
{
    private long _references;
    private readonly Lock _cacheStampLock = new();
    private long _stampCtimeSec = long.MinValue; // the host file's ctime and size at the last open (KeepCacheOnOpen)
    private uint _stampCtimeNsec;
    private ulong _stampSize;
    private volatile SafeFd? _fd;
    private volatile TableMemo? _table;

    /// <param name="key">The node's key (what the session knows it by).</param>
    /// <param name="parent">The parent in the view; null for the root.</param>
    /// <param name="name">The name in the parent.</param>
    /// <param name="grants">The grants covering the node; empty for a synthesized node.</param>
    /// <param name="fd">O_PATH fd of the host object (the node owns it); null for a synthesized node.</param>
    /// <param name="isDirectory">A directory.</param>
    /// <param name="dev">The host object's device (0 for a synthesized node).</param>
    /// <param name="ino">The inode number shown to the guest.</param>
    public ViewNode(ulong key, ViewNode? parent, byte[] name, ViewGrant[] grants, SafeFd? fd, bool isDirectory, ulong dev, ulong ino)
    {
        Key = key;
        Parent = parent;
        Name = name;
        Grants = grants;
        _fd = fd;
        IsSynthesized = fd is null;
        IsDirectory = isDirectory;
        Dev = dev;
        Ino = ino;
        PathLength = parent is null ? 0 : parent.PathLength + (parent.PathLength == 0 ? 0 : 1) + name.Length;
        var expires = long.MaxValue;
        foreach (var g in grants)
        {
            expires = Math.Min(expires, g.ExpiresAtMs);
        }

        ExpiresAtMs = expires;
    }

    public ulong Key { get; }

    /// <summary>The parent in the view (null for the root). A view's ".." is this, never the host's. Follows renames made through the view.</summary>
    public ViewNode? Parent { get; private set; }

    /// <summary>The name in <see cref="Parent"/> (for a file with several names: the first one it was found by).</summary>
    public byte[] Name { get; private set; }

    /// <summary>The length in bytes of the node's path in the view ("a/b" is 3; the root 0), bounded by PATH_MAX.</summary>
    public int PathLength { get; private set; }

    /// <summary>
    /// The grants that cover this node (empty for a synthesized node): the grant rooted here and
    /// the directory grants above. The node lives while any of them does.
    /// </summary>
    public ViewGrant[] Grants { get; }

    /// <summary>
    /// O_PATH fd of the host object; null for a synthesized node, and for a backed node whose fd was
    /// given back under pressure (the view opens it again before use: <see cref="ViewFileSystem"/>'s Usable).
    /// </summary>
    public SafeFd? Fd => _fd;

    public bool IsSynthesized { get; }

    public bool IsDirectory { get; }

    public ulong Dev { get; }

    public ulong Ino { get; }

    /// <summary>When an operation last used the node (Environment.TickCount64): the fd cache gives back the least recently used fds first.</summary>
    public long LastUsed;

    /// <summary>The file handle taken when the fd was given back, to open the same object again; null while the fd is held or if the filesystem has none.</summary>
    public byte[]? Handle { get; private set; }

    public int HandleType { get; private set; }

    /// <summary>
    /// The earliest expiry (Unix ms) of the grants covering the node, <see cref="long.MaxValue"/> if
    /// none expires: what the kernel may cache about the node must not outlive it.
    /// </summary>
    public long ExpiresAtMs { get; }

    /// <summary>
    /// Operations using the node's fd now (each pins it for the length of its request), or −1
    /// while <see cref="TryTakeFd"/> takes it: an fd is never closed under an operation.
    /// </summary>
    private int _pins;

    /// <summary>Pins the node for the current operation (see <see cref="_pins"/>): two atomic operations per node per request.</summary>
    public void Pin()
    {
        var spin = default(SpinWait);
        while (true)
        {
            var pins = Volatile.Read(ref _pins);
            if (pins >= 0 && Interlocked.CompareExchange(ref _pins, pins + 1, pins) == pins)
            {
                return;
            }

            spin.SpinOnce();
        }
    }

    public void Unpin() => Interlocked.Decrement(ref _pins);

    /// <summary>
    /// Takes the fd away from an unpinned node, keeping <paramref name="handle"/> to open the same
    /// object again; the caller closes it. Null when the node is in use or has no fd.
    /// </summary>
    public SafeFd? TryTakeFd(byte[] handle, int handleType)
    {
        if (IsSynthesized || Interlocked.CompareExchange(ref _pins, -1, 0) != 0)
        {
            return null;
        }

        var fd = _fd;
        if (fd is not null)
        {
            Handle = handle;
            HandleType = handleType;
            _fd = null;
        }

        Volatile.Write(ref _pins, 0);
        return fd;
    }

    /// <summary>Takes the fd for good (the node is forgotten or the view is going) unless an operation has it pinned; null then, or when there is none.</summary>
    public SafeFd? TryTakeFdForGood(out bool pinned)
    {
        pinned = Interlocked.CompareExchange(ref _pins, -1, 0) != 0;
        if (pinned)
        {
            return null;
        }

        var fd = _fd;
        _fd = null;
        Volatile.Write(ref _pins, 0);
        return fd;
    }

    /// <summary>Puts back an fd opened again from <see cref="Handle"/> (the node is pinned by the caller).</summary>
    public void PutFd(SafeFd fd) => _fd = fd;

    /// <summary>Records a rename made through the view: the node's place is now <paramref name="name"/> in <paramref name="parent"/>.</summary>
    public void Move(ViewNode parent, byte[] name)
    {
        Parent = parent;
        Name = name;
        PathLength = parent.PathLength + (parent.PathLength == 0 ? 0 : 1) + name.Length;
        _table = null;
    }

    /// <summary>
    /// The node of <paramref name="table"/> at this node's place, or null: one step from the
    /// parent's, memoized per table and <paramref name="layout"/> (the view's count of directory
    /// renames, which move whole subtrees).
    /// </summary>
    public TableNode? TableIn(GrantTable table, long layout)
    {
        var memo = _table;
        if (memo is not null && ReferenceEquals(memo.Table, table) && memo.Layout == layout)
        {
            return memo.Node;
        }

        // Allocates once per node and table (a grant change) or rename, never per operation.
        var found = Parent is null ? table.Root : Parent.TableIn(table, layout)?.Find(Name);
        _table = new TableMemo(table, layout, found);
        return found;
    }

    private sealed record TableMemo(GrantTable Table, long Layout, TableNode? Node);

    /// <summary>
    /// Whether this open may keep the kernel's cached pages of the file (FOPEN_KEEP_CACHE, so that
    /// reading an unchanged file again costs no round trip): only when the host file's change time
    /// and size are exactly what the previous open saw. A file changed on the host in between (by
    /// another VM, a host process, a write through this view) has a new ctime, so its open drops the
    /// cache and it is never read stale. A truncating open never keeps it. Records this open's stamp.
    /// </summary>
    public bool KeepCacheOnOpen(in StatxResult st, bool truncating)
    {
        lock (_cacheStampLock)
        {
            var same = !truncating && _stampCtimeSec == st.CtimeSec && _stampCtimeNsec == st.CtimeNsec && _stampSize == st.Size;
            (_stampCtimeSec, _stampCtimeNsec, _stampSize) = truncating ? (long.MinValue, 0u, 0UL) : (st.CtimeSec, st.CtimeNsec, st.Size);
            return same;
        }
    }

    /// <summary>True while a grant covering the node is live (a synthesized node is checked against the table instead).</summary>
    public bool IsLive
    {
        get
        {
            foreach (var g in Grants)
            {
                if (!g.Ended)
                {
                    return true;
                }
            }

            return false;
        }
    }

    /// <summary>The union of the live grants' rights: one volatile read per grant, no allocation.</summary>
    public Rights Rights
    {
        get
        {
            var rights = Rights.None;
            foreach (var g in Grants)
            {
                if (!g.Ended)
                {
                    rights |= g.Rights;
                }
            }

            return rights;
        }
    }

    /// <summary>The innermost grant: renames and links may not leave it.</summary>
    public ViewGrant? Innermost => Grants.Length == 0 ? null : Grants[0];

    /// <summary>The kernel's references (lookups not yet forgotten).</summary>
    public long References => Interlocked.Read(ref _references);

    public void AddReference() => Interlocked.Increment(ref _references);

    /// <summary>Drops references; true when none are left.</summary>
    public bool Release(ulong count) => Interlocked.Add(ref _references, -(long)count) <= 0;
}

/// <summary>
/// A backed node's place in the by-object index: the host object (device and inode, pinned by
/// the node's fd while it is indexed, so the number cannot be reused meanwhile) and the grants it
/// is reached under (the same file under other grants has other rights: another node).
/// </summary>
internal readonly record struct NodeObject(ulong Dev, ulong Ino, ViewGrant[] Grants)
{
    public sealed class Comparer : IEqualityComparer<NodeObject>
    {
        public static readonly Comparer Instance = new();

        public bool Equals(NodeObject x, NodeObject y) =>
            x.Dev == y.Dev && x.Ino == y.Ino && (ReferenceEquals(x.Grants, y.Grants) || x.Grants.AsSpan().SequenceEqual(y.Grants));

        public int GetHashCode(NodeObject obj) => HashCode.Combine(obj.Dev, obj.Ino, obj.Grants.Length == 0 ? null : obj.Grants[0]);
    }
}

/// <summary>A node's place in the by-name index: its parent's key and its name.</summary>
internal readonly record struct NodeName(ulong Parent, byte[] Name)
{
    /// <summary>Compares names by their bytes, and looks up by a span without copying it.</summary>
    public sealed class Comparer : IEqualityComparer<NodeName>, IAlternateEqualityComparer<NodeNameRef, NodeName>
    {
        public static readonly Comparer Instance = new();

        public bool Equals(NodeName x, NodeName y) => x.Parent == y.Parent && x.Name.AsSpan().SequenceEqual(y.Name);

        public int GetHashCode(NodeName obj) => Hash(obj.Parent, obj.Name);

        public bool Equals(NodeNameRef alternate, NodeName other) => alternate.Parent == other.Parent && alternate.Name.SequenceEqual(other.Name);

        public int GetHashCode(NodeNameRef alternate) => Hash(alternate.Parent, alternate.Name);

        public NodeName Create(NodeNameRef alternate) => new(alternate.Parent, alternate.Name.ToArray());

        private static int Hash(ulong parent, ReadOnlySpan<byte> name)
        {
            var hash = default(HashCode);
            hash.Add(parent);
            hash.AddBytes(name);
            return hash.ToHashCode();
        }
    }
}

/// <summary><see cref="NodeName"/> over a borrowed name, for lookups that must not allocate.</summary>
internal readonly ref struct NodeNameRef(ulong parent, ReadOnlySpan<byte> name)
{
    public ulong Parent { get; } = parent;

    public ReadOnlySpan<byte> Name { get; } = name;
}

/// <summary>An open file or directory of a view: the host fd and the grants it was opened under.</summary>
internal sealed class ViewHandle
{
    public ViewHandle(ViewNode node, SafeFd? fd, bool canWrite, bool isDirectory)
    {
        Node = node;
        Fd = fd;
        CanWrite = canWrite;
        IsDirectory = isDirectory;
    }

    public ViewNode Node { get; }

    /// <summary>The open host fd; null for a synthesized directory.</summary>
    public SafeFd? Fd { get; }

    public bool CanWrite { get; }

    public bool IsDirectory { get; }

    /// <summary>True when the kernel reads and writes this open file directly (a backing id is held for its node).</summary>
    public bool Passthrough { get; init; }

    /// <summary>For a synthesized directory: its entries (the table nodes that lead to live grants), fixed when it was opened.</summary>
    public TableNode[]? SyntheticEntries { get; init; }

    /// <summary>For a synthesized directory: the scratch files in it (guest name, host inode), fixed when it was opened.</summary>
    public (byte[] Name, ulong Ino)[] ScratchEntries { get; init; } = [];

    /// <summary>For a backed directory: the names of the mount points in it, fixed when it was opened; a listing leaves them out.</summary>
    public byte[][]? MountPoints { get; init; }

    /// <summary>For a backed directory: where its listing stands (see <see cref="DirectoryStream"/>).</summary>
    public DirectoryStream? Stream { get; init; }

    /// <summary>A revoked grant makes every open handle under it fail its next operation.</summary>
    public bool IsLive => Node.IsSynthesized || Node.IsLive;
}

/// <summary>
/// A backed directory's listing position: the getdents64 records read but not listed yet, and the
/// cookie the fd stands at. A READDIR that continues where the last one stopped (the usual case)
/// reads on without lseek: on ext4, every seek of an htree directory throws away the hash-ordered
/// tree that getdents builds, and the next getdents hashes whole directory blocks again (measured:
/// that was most of a 10,000-entry listing). A READDIR at any other cookie seeks there.
/// </summary>
internal sealed class DirectoryStream : IDisposable
{
    /// <summary>Room for about a thousand short names: one getdents64 per 32 KiB READDIR reply.</summary>
    private const int BufferSize = 32 * 1024;

    private byte[]? _buffer = System.Buffers.ArrayPool<byte>.Shared.Rent(BufferSize);

    public Lock Lock { get; } = new();

    /// <summary>The records read and not yet listed: <see cref="Buffer"/>[<see cref="Start"/>..<see cref="End"/>].</summary>
    public byte[] Buffer => _buffer ?? throw new ObjectDisposedException(nameof(DirectoryStream));

    public int Start { get; set; }

    public int End { get; set; }

    /// <summary>The cookie of the last entry listed (0 at the start): a READDIR at this offset continues from <see cref="Start"/>.</summary>
    public long Cookie { get; set; }

    public bool Disposed => _buffer is null;

    public void Dispose()
    {
        lock (Lock)
        {
            if (_buffer is { } b)
            {
                _buffer = null;
                System.Buffers.ArrayPool<byte>.Shared.Return(b);
            }
        }
    }
}
