using System.Text;
using Spectrum.Capabilities;

namespace Spectrum.Broker.Views;

/// <summary>
/// A live grant as the data path sees it. <see cref="Ended"/> turns true once, when the grant is
/// revoked or when the clock reaches its expiry, and never turns back (a clock set back does not
/// bring an expired grant back); every node and open handle below the grant checks it on each
/// operation. That costs one volatile read, and for a grant that expires one read of the clock and
/// a compare: no crypto, no allocation (<c>bench/Spectrum.Bench/ViewGrantCheckBenchmarks.cs</c>).
/// The expiry sweep that later marks the grant expired in the store is not needed for the view to
/// refuse it.
/// </summary>
public sealed class ViewGrant
{
    /// <summary>Wall-clock milliseconds, for grants made without the broker's clock (tests, benchmarks).</summary>
    private static readonly Func<long> SystemClock = () => DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();

    private readonly Func<long> _nowMs;
    private volatile bool _ended;

    /// <param name="id">The grant id.</param>
    /// <param name="path">The grant root in the tree.</param>
    /// <param name="isDirectory">A directory grant (covers the subtree), or a file grant.</param>
    /// <param name="rights">What the grant allows.</param>
    /// <param name="identity">The identity recorded when the grant was made; null for a stale grant.</param>
    /// <param name="expiresAtMs">When the grant expires (Unix ms), or null.</param>
    /// <param name="parentIdentity">The identity of the directory holding the grant root, recorded with the grant.</param>
    /// <param name="nowMs">
    /// The clock the expiry is compared with (Unix ms): the broker passes its store's, which never
    /// goes back behind a time it has written, so that the view and the store agree on what has
    /// expired. Called on the data path: it must not allocate. Default: the system clock.
    /// </param>
    public ViewGrant(string id, TreePath path, bool isDirectory, Rights rights, Interop.FileIdentity? identity, long? expiresAtMs, Interop.FileIdentity? parentIdentity = null, Func<long>? nowMs = null)
    {
        ParentIdentity = parentIdentity;
        Id = id;
        Path = path;
        IsDirectory = isDirectory;
        Rights = rights;
        Identity = identity;
        ExpiresAtMs = expiresAtMs ?? long.MaxValue;
        _nowMs = nowMs ?? SystemClock;
        PathBytes = Encoding.UTF8.GetBytes(path.Value);
        var slash = path.Value.LastIndexOf('/');
        DirectoryBytes = slash < 0 ? [] : Encoding.UTF8.GetBytes(path.Value[..slash]);
        NameBytes = Encoding.UTF8.GetBytes(slash < 0 ? path.Value : path.Value[(slash + 1)..]);
    }

    /// <summary>The grant root's path in the tree, UTF-8 ("." for the whole tree): made once, for lookups that must not allocate.</summary>
    public byte[] PathBytes { get; }

    /// <summary>The path of the directory holding the grant root, UTF-8; empty when it is the tree root.</summary>
    public byte[] DirectoryBytes { get; }

    /// <summary>The grant root's own name, UTF-8.</summary>
    public byte[] NameBytes { get; }

    public string Id { get; }

    public TreePath Path { get; }

    public bool IsDirectory { get; }

    public Rights Rights { get; }

    /// <summary>The identity recorded when the grant was made; null for a stale grant.</summary>
    public Interop.FileIdentity? Identity { get; }

    /// <summary>When the grant expires (Unix ms); <see cref="long.MaxValue"/> for never.</summary>
    public long ExpiresAtMs { get; }

    /// <summary>The identity of the directory holding the grant root, recorded with the grant.</summary>
    public Interop.FileIdentity? ParentIdentity { get; }

    /// <summary>True once the grant was revoked, went stale or expired (at its expiry exactly, as in the store).</summary>
    public bool Ended => _ended || (ExpiresAtMs != long.MaxValue && ExpiredNow());

    /// <summary>Marks the grant ended; irreversible.</summary>
    public void End() => _ended = true;

    private bool ExpiredNow()
    {
        if (_nowMs() < ExpiresAtMs)
        {
            return false;
        }

        _ended = true; // sticky: rolling the clock back later changes nothing
        return true;
    }
}

/// <summary>
/// One node of a VM's compiled grant table: a grant root, or a synthesized ancestor of grant
/// roots. Children are kept sorted by their UTF-8 name so a lookup is a binary search over bytes
/// (guest names need not be UTF-8, so they are never decoded).
/// </summary>
public sealed class TableNode
{
    internal TableNode(byte[] name, TableNode? parent)
    {
        Name = name;
        Parent = parent;
    }

    /// <summary>The component name, UTF-8; empty for the root.</summary>
    public byte[] Name { get; }

    public TableNode? Parent { get; }

    /// <summary>Children, sorted by <see cref="Name"/> (ordinal bytes).</summary>
    public TableNode[] Children { get; internal set; } = [];

    /// <summary>The grants rooted exactly here (more than one when a VM holds several grants on one path).</summary>
    public ViewGrant[] Grants { get; internal set; } = [];

    /// <summary>
    /// The inode number this node has as a synthesized directory: derived from its path, so that a
    /// listing can show it without looking the node up, and it stays the same across recompiled
    /// tables and broker restarts.
    /// </summary>
    public ulong SyntheticIno { get; internal set; }

    /// <summary>The latest expiry (Unix ms) of the grants here and below: <see cref="long.MaxValue"/> if one never expires, <see cref="long.MinValue"/> if there are none (an empty table).</summary>
    public long SubtreeExpiresAtMs { get; internal set; }

    /// <summary>
    /// The grants a node found here is under: those rooted here, then the directory grants rooted
    /// above, innermost first (empty when none is rooted here). Made once per table, so a lookup
    /// of a grant root allocates no list.
    /// </summary>
    public ViewGrant[] Covering { get; internal set; } = [];

    /// <summary>The file grants with <c>create</c> rooted in this node's children (named slots): made once per table, usually empty.</summary>
    public ViewGrant[] CreatableFileGrants { get; internal set; } = [];

    /// <summary>The node's path in the tree ("." for the root), for audit records.</summary>
    public string Path { get; internal set; } = ".";

    /// <summary>True when no grant is rooted here: the node is a synthesized, read-only directory.</summary>
    public bool IsSynthesized => Grants.Length == 0;

    /// <summary>The child named <paramref name="name"/>, or null.</summary>
    public TableNode? Find(ReadOnlySpan<byte> name)
    {
        var children = Children;
        int lo = 0, hi = children.Length - 1;
        while (lo <= hi)
        {
            var mid = (lo + hi) >>> 1;
            var c = children[mid].Name.AsSpan().SequenceCompareTo(name);
            if (c == 0)
            {
                return children[mid];
            }

            if (c < 0)
            {
                lo = mid + 1;
            }
            else
            {
                hi = mid - 1;
            }
        }

        return null;
    }

    /// <summary>The rights of the live grants rooted here (their union).</summary>
    public Rights LiveRights
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

    public override string ToString() => Parent is null ? "." : Encoding.UTF8.GetString(Name);
}

/// <summary>
/// A VM's grants compiled into a tree of grant roots and their ancestors. Immutable once built;
/// the view swaps in a new table when the VM's grants change. Paths below a directory grant that
/// hold no further grant are not in the table: they are resolved on the host below the grant's fd.
/// </summary>
public sealed class GrantTable
{
    private GrantTable(TableNode root, IReadOnlyList<ViewGrant> grants)
    {
        Root = root;
        Grants = grants;
    }

    public static GrantTable Empty { get; } = Compile([]);

    /// <summary>The view's root: synthesized unless the whole tree is granted.</summary>
    public TableNode Root { get; }

    public IReadOnlyList<ViewGrant> Grants { get; }

    /// <summary>Builds the table; the order of <paramref name="grants"/> does not matter.</summary>
    public static GrantTable Compile(IEnumerable<ViewGrant> grants)
    {
        var root = new TableNode([], null);
        var children = new Dictionary<TableNode, SortedDictionary<byte[], TableNode>>();
        var rooted = new Dictionary<TableNode, List<ViewGrant>>();
        var all = new List<ViewGrant>();
        foreach (var grant in grants)
        {
            all.Add(grant);
            var node = root;
            if (!grant.Path.IsRoot)
            {
                foreach (var component in grant.Path.Value.Split('/'))
                {
                    var name = Encoding.UTF8.GetBytes(component);
                    if (!children.TryGetValue(node, out var map))
                    {
                        map = new SortedDictionary<byte[], TableNode>(ByteComparer.Instance);
                        children[node] = map;
                    }

                    if (!map.TryGetValue(name, out var child))
                    {
                        child = new TableNode(name, node);
                        map[name] = child;
                    }

                    node = child;
                }
            }

            if (!rooted.TryGetValue(node, out var list))
            {
                rooted[node] = list = [];
            }

            list.Add(grant);
        }

        foreach (var (node, map) in children)
        {
            node.Children = [.. map.Values];
        }

        foreach (var (node, list) in rooted)
        {
            node.Grants = [.. list.OrderBy(g => g.Id, StringComparer.Ordinal)];
        }

        Finish(root, ".", []);
        return new GrantTable(root, all);
    }

    /// <summary>The inode number of the synthesized directory at <paramref name="path"/> ("." is the view root).</summary>
    public static ulong SyntheticIno(string path) =>
        path == "." ? SyntheticInoBase + 1 : SyntheticInoBase | (Fnv1a(path) & (SyntheticInoBase - 1));

    /// <summary>Synthesized nodes get inode numbers from a range host filesystems do not hand out (bit 62 set).</summary>
    internal const ulong SyntheticInoBase = 1UL << 62;

    private static long Finish(TableNode node, string path, ViewGrant[] above)
    {
        node.Path = path;
        node.SyntheticIno = SyntheticIno(path);
        var latest = long.MinValue;
        foreach (var g in node.Grants)
        {
            latest = Math.Max(latest, g.ExpiresAtMs);
        }

        if (node.Grants.Length > 0)
        {
            node.Covering = [.. node.Grants, .. above];
            above = [.. node.Grants.Where(g => g.IsDirectory), .. above];
        }

        node.CreatableFileGrants = [.. node.Children.SelectMany(c => c.Grants).Where(g => !g.IsDirectory && (g.Rights & Rights.Create) != 0)];
        foreach (var child in node.Children)
        {
            var name = Encoding.UTF8.GetString(child.Name);
            latest = Math.Max(latest, Finish(child, path == "." ? name : path + "/" + name, above));
        }

        node.SubtreeExpiresAtMs = latest;
        return latest;
    }

    /// <summary>64-bit FNV-1a of the path's UTF-8 bytes.</summary>
    private static ulong Fnv1a(string path)
    {
        var hash = 14695981039346656037UL;
        foreach (var b in Encoding.UTF8.GetBytes(path))
        {
            hash = (hash ^ b) * 1099511628211UL;
        }

        return hash;
    }

    private sealed class ByteComparer : IComparer<byte[]>
    {
        public static readonly ByteComparer Instance = new();

        public int Compare(byte[]? x, byte[]? y) => x.AsSpan().SequenceCompareTo(y);
    }
}
