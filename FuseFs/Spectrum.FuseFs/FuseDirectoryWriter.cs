using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Text;

namespace Spectrum.FuseFs;

/// <summary>
/// Fills a READDIR or READDIRPLUS reply in place. The filesystem adds entries in order, each with
/// the <b>cookie of the entry after it</b> (<c>nextOffset</c>): the kernel hands the last consumed
/// cookie back as the next request's offset (and telldir/seekdir return and take these cookies),
/// so cookies must be stable for the open directory and never 0 for an entry.
/// </summary>
public ref struct FuseDirectoryWriter
{
    private const int DirentSize = 24;      // sizeof(struct fuse_dirent) without the name
    private const int DirentPlusSize = 152; // sizeof(struct fuse_direntplus) without the name

    private readonly Span<byte> _buffer;
    private readonly FuseSession.Worker? _worker;
    private int _position;
    private int _count;

    internal FuseDirectoryWriter(Span<byte> buffer, bool plus, FuseSession.Worker? worker)
    {
        _buffer = buffer;
        IsPlus = plus;
        _worker = worker;
    }

    /// <summary>True for READDIRPLUS: entries should carry attributes and a node (<see cref="TryAdd(ReadOnlySpan{byte}, in FuseEntryOut, ulong)"/>).</summary>
    public bool IsPlus { get; }

    /// <summary>Bytes written so far.</summary>
    public readonly int Length => _position;

    /// <summary>Entries written so far.</summary>
    public readonly int Count => _count;

    /// <summary>
    /// True when an entry with a name of <paramref name="nameLength"/> bytes still fits. Checked
    /// first, a filesystem does not pay for an entry (a lookup, for READDIRPLUS) that would not
    /// fit and has to go in the next reply anyway.
    /// </summary>
    public readonly bool HasRoomFor(int nameLength) =>
        _position + Align8((IsPlus ? DirentPlusSize : DirentSize) + nameLength) <= _buffer.Length;

    /// <summary>
    /// Adds an entry without attributes (READDIR, or a READDIRPLUS entry the kernel will look up
    /// itself). Returns false, writing nothing, when the entry does not fit: stop there.
    /// </summary>
    /// <param name="name">The name, without NUL (at most 255 bytes).</param>
    /// <param name="ino">The inode number shown in d_ino.</param>
    /// <param name="type">The file type as in <c>mode &gt;&gt; 12 &amp; 15</c> (DT_DIR = 4, DT_REG = 8, DT_LNK = 10, …).</param>
    /// <param name="nextOffset">The cookie of the entry after this one.</param>
    [MethodImpl(MethodImplOptions.AggressiveInlining)] // one call per entry of a listing
    public bool TryAdd(ReadOnlySpan<byte> name, ulong ino, uint type, ulong nextOffset)
    {
        if (name.Length is 0 or > FuseLimits.MaxName)
        {
            return true; // an impossible name is skipped, not sent
        }

        var header = IsPlus ? DirentPlusSize : DirentSize;
        var size = Align8(header + name.Length);
        if (_position + size > _buffer.Length)
        {
            return false;
        }

        var slot = _buffer.Slice(_position, size);
        slot.Clear();
        var direntOffset = 0;
        if (IsPlus)
        {
            direntOffset = DirentPlusSize - DirentSize; // entry_out left zero: nodeid 0, "no attributes"
        }

        ref var dirent = ref MemoryMarshal.AsRef<FuseDirent>(slot[direntOffset..]);
        dirent.Ino = ino;
        dirent.Off = nextOffset;
        dirent.Namelen = (uint)name.Length;
        dirent.Type = type;
        name.CopyTo(slot[(direntOffset + DirentSize)..]);
        _position += size;
        _count++;
        return true;
    }

    /// <summary>
    /// Adds an entry with its node and attributes (READDIRPLUS). <paramref name="entry"/>'s
    /// <see cref="FuseEntryOut.NodeId"/> is the filesystem's node key; a non-zero key hands the
    /// session one reference whether or not the entry fits (entries that do not reach the kernel,
    /// and "." and "..", which the kernel never links, are returned through
    /// <see cref="IFuseFileSystem.Forget"/> after the operation). Returns false when it did not fit.
    /// In a READDIR reply the attributes are reduced to ino and type.
    /// </summary>
    public bool TryAdd(ReadOnlySpan<byte> name, in FuseEntryOut entry, ulong nextOffset)
    {
        var key = entry.NodeId;
        var type = (entry.Attr.Mode >> 12) & 15;
        var dot = name.SequenceEqual("."u8) || name.SequenceEqual(".."u8);
        if (!IsPlus || key == 0 || dot)
        {
            var fitted = TryAdd(name, entry.Attr.Ino, type, nextOffset);
            if (key != 0)
            {
                _worker?.DeferForget(key);
            }

            return fitted;
        }

        var start = _position;
        if (!TryAdd(name, entry.Attr.Ino, type, nextOffset))
        {
            _worker?.DeferForget(key);
            return false;
        }

        ref var plus = ref MemoryMarshal.AsRef<FuseDirentplus>(_buffer[start..]);
        plus.EntryOut = entry;
        plus.EntryOut.Generation = 0;
        plus.EntryOut.NodeId = _worker is null ? key : _worker.Session.Nodes.Register(key);
        return true;
    }

    /// <summary>Same as <see cref="TryAdd(ReadOnlySpan{byte}, ulong, uint, ulong)"/> with a string name (allocates: not for hot paths).</summary>
    public bool TryAdd(string name, ulong ino, uint type, ulong nextOffset) =>
        TryAdd(Encoding.UTF8.GetBytes(name), ino, type, nextOffset);

    private static int Align8(int n) => (n + 7) & ~7;
}
