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

    public ViewNode(ulong key, ViewNode? parent, string path, byte[] name, ViewGrant[] grants, SafeFd? fd, bool isDirectory, ulong dev, ulong ino)
    {
        Key = key;
        Parent = parent;
        Path = path;
        Name = name;
        Grants = grants;
        Fd = fd;
        IsDirectory = isDirectory;
        Dev = dev;
        Ino = ino;
    }

    public ulong Key { get; }

    /// <summary>The parent in the view (null for the root). A view's ".." is this, never the host's.</summary>
    public ViewNode? Parent { get; }

    /// <summary>The path in the view ("." for the root), for audit records and invalidation.</summary>
    public string Path { get; }

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

    public void AddReference() => Interlocked.Increment(ref _references);

    /// <summary>Drops references; true when none are left.</summary>
    public bool Release(ulong count) => Interlocked.Add(ref _references, -(long)count) <= 0;
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

    /// <summary>For a synthesized directory: its entries, fixed when it was opened.</summary>
    public byte[][]? SyntheticEntries { get; init; }

    /// <summary>A revoked grant makes every open handle under it fail its next operation.</summary>
    public bool IsLive => Node.IsSynthesized || Node.IsLive;
}
