using System.Runtime.CompilerServices;
using Spectrum.FuseFs;
using Spectrum.Interop;

namespace Spectrum.Broker.Views;

/// <summary>
/// Listings. READDIR and READDIRPLUS list exactly the same entries, in the same order, with the
/// same cookies, inode numbers and types: with READDIRPLUS_AUTO the kernel asks READDIRPLUS for
/// the first part of a listing and READDIR for the rest (unless the names are being looked up),
/// and seekdir/telldir cross from one to the other. The only difference is that a READDIRPLUS
/// entry also carries the node and attributes its lookup gives, so that listing and stating
/// costs one round trip per buffer instead of one per name (BENCHMARKS.md: the round trip is the
/// unit of account); an entry whose lookup fails is still listed, without a node, as READDIR lists
/// it, and the kernel looks it up itself if asked to.
/// <list type="bullet">
/// <item>A synthesized directory lists "." and ".." (cookies 1 and 2) and then, from cookie 3, the
/// table's children that lead to a live grant, in byte order, fixed when it was opened.</item>
/// <item>A backed directory lists what getdents64 gives, with the host's cookies, except mount
/// points (which no lookup crosses: <see cref="TreeMounts"/>); "." and ".." carry the view's
/// inode numbers (the view parent's, never the host's); FIFOs, devices and sockets are DT_REG, as
/// lookups show them.</item>
/// </list>
/// </summary>
internal sealed partial class ViewFileSystem
{
    public override Errno ReadDir(in FuseRequestContext context, ulong node, ulong fh, ulong offset, ref FuseDirectoryWriter entries) =>
        List(fh, offset, ref entries);

    public override Errno ReadDirPlus(in FuseRequestContext context, ulong node, ulong fh, ulong offset, ref FuseDirectoryWriter entries) =>
        List(fh, offset, ref entries);

    private Errno List(ulong fh, ulong offset, ref FuseDirectoryWriter entries)
    {
        var h = Handle(fh);
        if (h is null)
        {
            return Errno.EACCES;
        }

        return h.SyntheticEntries is { } children
            ? ListSynthetic(h.Node, children, h.ScratchEntries, offset, ref entries)
            : ListBacked(h, offset, ref entries);
    }

    private Errno ListSynthetic(ViewNode dir, TableNode[] children, (byte[] Name, ulong Ino)[] scratch, ulong offset, ref FuseDirectoryWriter entries)
    {
        // Lookups only while the directory still leads somewhere: a node made under it now would be orphaned.
        var lookUp = entries.IsPlus && Live(dir.Key) == dir;
        var at = lookUp ? TableAt(dir) : null;
        var total = (ulong)children.Length + 2;
        for (var i = offset; i < total + (ulong)scratch.Length; i++)
        {
            var next = i + 1;
            bool added;
            if (i < 2)
            {
                added = entries.TryAdd(i == 0 ? "."u8 : ".."u8, i == 0 ? dir.Ino : ParentIno(dir), DtDir, next);
            }
            else
            {
                // The table's children, then the scratch files (ViewFileSystem.Slots.cs): cookies stay the positions in the list fixed at opendir.
                var isScratch = i >= total;
                var name = isScratch ? scratch[(int)(i - total)].Name : children[(int)(i - 2)].Name;
                if (!entries.HasRoomFor(name.Length))
                {
                    break;
                }

                var entry = default(FuseEntryOut);
                if (lookUp && LookupIn(dir, at, name, ref entry) == Errno.OK)
                {
                    added = entries.TryAdd(name, entry, next);
                }
                else if (isScratch)
                {
                    added = entries.TryAdd(name, scratch[(int)(i - total)].Ino, DtReg, next);
                }
                else
                {
                    var (ino, type, absent) = SyntheticDirent(children[(int)(i - 2)]);
                    // A file grant whose file does not exist now (a named slot not saved yet) is not listed: lookups answer ENOENT for it.
                    added = absent || entries.TryAdd(name, ino, type, next);
                }
            }

            if (!added)
            {
                break;
            }
        }

        return Errno.OK;
    }

    /// <summary>
    /// The inode number and type a lookup of a synthesized directory's child shows: for a grant root,
    /// the host object's (the grant's kind if it cannot be reached now); for a synthesized ancestor,
    /// its own.
    /// </summary>
    private (ulong Ino, uint Type, bool Absent) SyntheticDirent(TableNode child)
    {
        ViewGrant? grant = null;
        foreach (var g in child.Grants)
        {
            if (!g.Ended)
            {
                grant = g;
                break;
            }
        }

        if (grant is null)
        {
            return (child.SyntheticIno, DtDir, false);
        }

        var e = Posix.OpenBeneath(_host.Tree.Fd, grant.PathBytes, OpenFlags.Path, 0, out var fd);
        if (e == Errno.OK)
        {
            using (fd)
            {
                if (Posix.Stat(fd!, out var st) == Errno.OK && (grant.IsDirectory ? st.IsDirectory : st.IsRegular))
                {
                    return (st.Ino, st.IsDirectory ? DtDir : DtReg, false);
                }
            }
        }

        return (child.SyntheticIno, grant.IsDirectory ? DtDir : DtReg, e == Errno.ENOENT && !grant.IsDirectory && child.Children.Length == 0);
    }

    // Fully optimized from the first call: a listing runs this loop a thousand times per request
    // but only a dozen requests per directory, too few for tiered compilation to leave tier 0
    // before the listing is over (measured: a 10,000-entry READDIR cost the broker 7 ms of CPU at
    // tier 0, against 3 ms for this code optimized, and for libfuse).
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private Errno ListBacked(ViewHandle h, ulong offset, ref FuseDirectoryWriter entries)
    {
        var dir = h.Node;
        var fd = h.Fd!;
        var stream = h.Stream!;
        var hidden = h.MountPoints;
        // Lookups below need the directory's own fd: pinned (and opened again if it was given back) for this request.
        var lookUp = entries.IsPlus && dir.IsLive && Usable(dir) is not null;
        var at = lookUp ? TableAt(dir) : null;
        lock (stream.Lock)
        {
            if (stream.Disposed)
            {
                return Errno.EBADF;
            }

            var buffer = stream.Buffer;
            if ((long)offset != stream.Cookie)
            {
                var e = Posix.SeekDir(fd, (long)offset);
                if (e != Errno.OK)
                {
                    return e;
                }

                stream.Start = stream.End = 0;
                stream.Cookie = (long)offset;
            }

            while (true)
            {
                if (stream.Start == stream.End)
                {
                    var e = Posix.GetDents(fd, buffer, out var length);
                    if (e != Errno.OK || length == 0)
                    {
                        return e;
                    }

                    stream.Start = 0;
                    stream.End = length;
                }

                var reader = new DirentReader(buffer.AsSpan(stream.Start, stream.End - stream.Start));
                if (!reader.MoveNext())
                {
                    stream.Start = stream.End = 0; // a malformed record: read on from the fd
                    continue;
                }

                var d = reader.Current;
                var name = d.Name;
                if (!entries.HasRoomFor(name.Length))
                {
                    return Errno.OK; // the next READDIR starts with this record, without a seek
                }

                var added = true;
                if (name.SequenceEqual("."u8) || name.SequenceEqual(".."u8))
                {
                    added = entries.TryAdd(name, name.Length == 1 ? dir.Ino : ParentIno(dir), DtDir, (ulong)d.Offset);
                }
                else if (hidden is null || !IsOneOf(name, hidden))
                {
                    var entry = default(FuseEntryOut);
                    if (lookUp && LookupIn(dir, at, name, ref entry) == Errno.OK)
                    {
                        added = entries.TryAdd(name, entry, (ulong)d.Offset);
                    }
                    else
                    {
                        // DT_FIFO, DT_CHR, DT_BLK and DT_SOCK are listed as what lookups show: DT_REG.
                        var type = d.Type is DirentType.Fifo or DirentType.CharDevice or DirentType.BlockDevice or DirentType.Socket ? DtReg : (uint)d.Type;
                        added = entries.TryAdd(name, d.Ino, type, (ulong)d.Offset);
                    }
                }

                if (!added)
                {
                    return Errno.OK;
                }

                stream.Start += d.Length;
                stream.Cookie = d.Offset;
            }
        }
    }

    private static bool IsOneOf(ReadOnlySpan<byte> name, byte[][] names)
    {
        foreach (var n in names)
        {
            if (name.SequenceEqual(n))
            {
                return true;
            }
        }

        return false;
    }
}
