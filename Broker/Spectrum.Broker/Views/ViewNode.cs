using System.Text;
using Spectrum.Capabilities;
using Spectrum.Interop;

namespace Spectrum.Broker.Views;

/// <summary>
/// A node of a view, as the FUSE session knows it by its key. Either <b>synthesized</b> (the view
/// root or an ancestor of grant roots: read-only, listing only what leads to grants) or
/// <b>backed</b> (a host object below a grant root, held as an O_PATH fd resolved once, so that
/// no later operation ever resolves a host path string again).
/// </summary>
internal sealed class ViewNode
{
    private long _references;
    private readonly Lock _cacheStampLock = new();
    private long _stampCtimeSec = long.MinValue; // the host file's ctime and size at the last open (KeepCacheOnOpen)
    private uint _stampCtimeNsec;
    private ulong _stampSize;
    private string? _path;

    /// <param name="key">The node's key (what the session knows it by).</param>
    /// <param name="parent">The parent in the view; null for the root.</param>
    /// <param name="path">The path in the view, or null to make it from the parent's when first asked (a lookup does not need it).</param>
    /// <param name="name">The name in the parent.</param>
    /// <param name="grants">The grants covering the node; empty for a synthesized node.</param>
    /// <param name="fd">O_PATH fd of the host object (the node owns it); null for a synthesized node.</param>
    /// <param name="isDirectory">A directory.</param>
    /// <param name="dev">The host object's device (0 for a synthesized node).</param>
    /// <param name="ino">The inode number shown to the guest.</param>
    public ViewNode(ulong key, ViewNode? parent, string? path, byte[] name, ViewGrant[] grants, SafeFd? fd, bool isDirectory, ulong dev, ulong ino)
    {
        Key = key;
        Parent = parent;
        _path = path;
        Name = name;
        Grants = grants;
        Fd = fd;
        IsDirectory = isDirectory;
        Dev = dev;
        Ino = ino;
        var expires = long.MaxValue;
        foreach (var g in grants)
        {
            expires = Math.Min(expires, g.ExpiresAtMs);
        }

        ExpiresAtMs = expires;
    }

    public ulong Key { get; }

    /// <summary>The parent in the view (null for the root). A view's ".." is this, never the host's.</summary>
    public ViewNode? Parent { get; }

    /// <summary>The path in the view ("." for the root), for audit records and invalidation.</summary>
    public string Path => _path ??= Parent is null ? "." : Join(Parent.Path, Name);

    public byte[] Name { get; }

    /// <summary>
    /// The grants that cover this node (empty for a synthesized node): the grant rooted here and
    /// the directory grants above. The node lives while any of them does.
    /// </summary>
    public ViewGrant[] Grants { get; }

    /// <summary>O_PATH fd of the host object; null for a synthesized node.</summary>
    public SafeFd? Fd { get; }

    public bool IsSynthesized => Fd is null;

    public bool IsDirectory { get; }

    public ulong Dev { get; }

    public ulong Ino { get; }

    /// <summary>
    /// The earliest expiry (Unix ms) of the grants covering the node, <see cref="long.MaxValue"/> if
    /// none expires: what the kernel may cache about the node must not outlive it.
    /// </summary>
    public long ExpiresAtMs { get; }

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

    /// <summary>The view path of <paramref name="name"/> in the directory at <paramref name="parent"/>.</summary>
    public static string Join(string parent, ReadOnlySpan<byte> name) =>
        parent == "." ? Encoding.UTF8.GetString(name) : parent + "/" + Encoding.UTF8.GetString(name);
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
