using System.Text;
using Spectrum.Capabilities;

namespace Spectrum.Broker.Views;

/// <summary>
/// A live grant as the data path sees it. <see cref="Ended"/> flips once, when the grant is
/// revoked or expires; every node and open handle below the grant checks it on each operation,
/// which costs one volatile read (no crypto, no allocation).
/// </summary>
public sealed class ViewGrant
{
    private volatile bool _ended;

    public ViewGrant(string id, TreePath path, bool isDirectory, Rights rights, Interop.FileIdentity? identity, long? expiresAtMs, Interop.FileIdentity? parentIdentity = null)
    {
        ParentIdentity = parentIdentity;
        Id = id;
        Path = path;
        IsDirectory = isDirectory;
        Rights = rights;
        Identity = identity;
        ExpiresAtMs = expiresAtMs;
    }

    public string Id { get; }

    public TreePath Path { get; }

    public bool IsDirectory { get; }

    public Rights Rights { get; }

    /// <summary>The identity recorded when the grant was made; null for a stale grant.</summary>
    public Interop.FileIdentity? Identity { get; }

    public long? ExpiresAtMs { get; }

    /// <summary>The identity of the directory holding the grant root, recorded with the grant.</summary>
    public Interop.FileIdentity? ParentIdentity { get; }

    public bool Ended => _ended;

    /// <summary>Marks the grant ended; irreversible.</summary>
    public void End() => _ended = true;
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

    public static GrantTable Empty { get; } = new(new TableNode([], null), []);

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

        return new GrantTable(root, all);
    }

    private sealed class ByteComparer : IComparer<byte[]>
    {
        public static readonly ByteComparer Instance = new();

        public int Compare(byte[]? x, byte[]? y) => x.AsSpan().SequenceCompareTo(y);
    }
}
