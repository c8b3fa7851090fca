using System.Collections.Concurrent;
using System.Text;
using Microsoft.Win32.SafeHandles;
using Spectrum.Interop;

namespace Spectrum.FuseFs.Tests;

/// <summary>
/// A small passthrough of a host directory for the mount tests: node keys name relative paths,
/// with a reference count per key kept exactly as <see cref="IFuseFileSystem"/> asks. Test code,
/// so paths are strings and allocation is fine.
/// </summary>
internal sealed class PassthroughFileSystem(string root) : FuseFileSystem
{
    private readonly Lock _lock = new();
    private readonly Dictionary<ulong, Node> _nodes = new() { [FuseSession.RootKey] = new Node("") { References = 1 } };
    private readonly Dictionary<string, ulong> _byPath = new() { [""] = FuseSession.RootKey };
    private readonly ConcurrentDictionary<ulong, SafeFileHandle> _files = new();
    private readonly ConcurrentDictionary<ulong, string[]> _directories = new();
    private readonly ConcurrentDictionary<ulong, ulong> _backingIds = new(); // fh → node holding a backing id
    private ulong _nextKey = 2;
    private long _nextHandle = 1;

    public TimeSpan EntryTimeout { get; set; } = TimeSpan.FromSeconds(60);

    public TimeSpan AttrTimeout { get; set; } = TimeSpan.FromSeconds(60);

    /// <summary>Cache negative lookups for <see cref="EntryTimeout"/>.</summary>
    public bool NegativeEntries { get; set; }

    public bool UsePassthrough { get; set; }

    public FuseSession? Session { get; private set; }

    public FuseBackingIds? Backings { get; private set; }

    public FuseConnectionInfo Connection { get; private set; }

    public long Reads;

    /// <summary>Keys (besides the root) the filesystem still holds references for.</summary>
    public int LiveKeys
    {
        get
        {
            lock (_lock)
            {
                return _nodes.Count - 1;
            }
        }
    }

    public override void Init(FuseSession session, in FuseConnectionInfo connection)
    {
        Session = session;
        Connection = connection;
        Backings = connection.Passthrough ? new FuseBackingIds(session) : null;
    }

    public ulong KeyOf(string relative)
    {
        lock (_lock)
        {
            return _byPath.TryGetValue(relative, out var key) ? key : 0;
        }
    }

    public override Errno Lookup(in FuseRequestContext context, ulong parent, ReadOnlySpan<byte> name, ref FuseEntryOut entry)
    {
        var path = Child(parent, name);
        if (path is null)
        {
            return Errno.ENOENT;
        }

        var errno = Entry(path, ref entry);
        if (errno == Errno.ENOENT && NegativeEntries)
        {
            entry.SetEntryTimeout(EntryTimeout);
        }

        return errno;
    }

    public override void Forget(ulong node, ulong references)
    {
        lock (_lock)
        {
            if (!_nodes.TryGetValue(node, out var entry))
            {
                throw new InvalidOperationException($"forget of unknown key {node}");
            }

            entry.References -= (long)references;
            if (entry.References < 0)
            {
                throw new InvalidOperationException($"key {node} forgotten more often than handed out");
            }

            if (entry.References == 0 && node != FuseSession.RootKey)
            {
                _nodes.Remove(node);
                _byPath.Remove(entry.Path);
            }
        }
    }

    public override Errno GetAttr(in FuseRequestContext context, ulong node, ulong? fh, ref FuseAttrOut attr)
    {
        var errno = Native.Lstat(Host(node), out var stat);
        if (errno == Errno.OK)
        {
            attr.Attr = Native.ToAttr(stat);
            attr.SetAttrTimeout(AttrTimeout);
        }

        return errno;
    }

    public override Errno SetAttr(in FuseRequestContext context, ulong node, in FuseSetAttrIn changes, ref FuseAttrOut attr)
    {
        var host = Host(node);
        if ((changes.Valid & FuseSetAttrValid.Mode) != 0 && Native.chmod(host, changes.Mode & 0xFFF) != 0)
        {
            return Native.LastErrno;
        }

        if ((changes.Valid & FuseSetAttrValid.Size) != 0)
        {
            var rc = (changes.Valid & FuseSetAttrValid.Fh) != 0 && _files.TryGetValue(changes.Fh, out var file)
                ? Native.ftruncate(file, (long)changes.Size)
                : Native.truncate(host, (long)changes.Size);
            if (rc != 0)
            {
                return Native.LastErrno;
            }
        }

        return GetAttr(context, node, null, ref attr);
    }

    public override Errno Readlink(in FuseRequestContext context, ulong node, Span<byte> target, out int length)
    {
        unsafe
        {
            // safe because: target is pinned for the call and readlink writes at most its length.
            fixed (byte* p = target)
            {
                var n = Native.readlink(Host(node), p, (nuint)target.Length);
                length = (int)Math.Max(n, 0);
                return n < 0 ? Native.LastErrno : Errno.OK;
            }
        }
    }

    public override Errno Symlink(in FuseRequestContext context, ulong parent, ReadOnlySpan<byte> name, ReadOnlySpan<byte> target, ref FuseEntryOut entry)
    {
        var path = Child(parent, name)!;
        return Native.symlink(Encoding.UTF8.GetString(target), HostPath(path)) == 0 ? Entry(path, ref entry) : Native.LastErrno;
    }

    public override Errno Mknod(in FuseRequestContext context, ulong parent, ReadOnlySpan<byte> name, uint mode, uint rdev, uint umask, ref FuseEntryOut entry)
    {
        if ((mode & 0xF000) != 0x8000)
        {
            return Errno.EPERM; // regular files only
        }

        var path = Child(parent, name)!;
        using var file = Native.Open(HostPath(path), Native.O_CREAT | Native.O_EXCL | Native.O_WRONLY, mode & ~umask & 0xFFF, out var errno);
        return file is null ? errno : Entry(path, ref entry);
    }

    public override Errno Mkdir(in FuseRequestContext context, ulong parent, ReadOnlySpan<byte> name, uint mode, uint umask, ref FuseEntryOut entry)
    {
        var path = Child(parent, name)!;
        return Native.mkdir(HostPath(path), mode & ~umask & 0xFFF) == 0 ? Entry(path, ref entry) : Native.LastErrno;
    }

    public override Errno Unlink(in FuseRequestContext context, ulong parent, ReadOnlySpan<byte> name) =>
        Native.Check(Native.unlink(HostPath(Child(parent, name)!)));

    public override Errno Rmdir(in FuseRequestContext context, ulong parent, ReadOnlySpan<byte> name) =>
        Native.Check(Native.rmdir(HostPath(Child(parent, name)!)));

    public override Errno Rename(in FuseRequestContext context, ulong parent, ReadOnlySpan<byte> name, ulong newParent, ReadOnlySpan<byte> newName, FuseRenameFlags flags)
    {
        var from = Child(parent, name)!;
        var to = Child(newParent, newName)!;
        if (Native.renameat2(Native.AT_FDCWD, HostPath(from), Native.AT_FDCWD, HostPath(to), (uint)flags) != 0)
        {
            return Native.LastErrno;
        }

        lock (_lock)
        {
            // Re-point the keys of everything below the renamed paths (both, for EXCHANGE).
            var moves = new List<(ulong Key, string Path)>();
            foreach (var (key, node) in _nodes)
            {
                if (Below(node.Path, from))
                {
                    moves.Add((key, to + node.Path[from.Length..]));
                }
                else if ((flags & FuseRenameFlags.Exchange) != 0 && Below(node.Path, to))
                {
                    moves.Add((key, from + node.Path[to.Length..]));
                }
                else if (Below(node.Path, to))
                {
                    moves.Add((key, "\0replaced/" + key.ToString(System.Globalization.CultureInfo.InvariantCulture) + node.Path));
                }
            }

            foreach (var (key, _) in moves)
            {
                _byPath.Remove(_nodes[key].Path);
            }

            foreach (var (key, path) in moves)
            {
                _nodes[key].Path = path;
                _byPath[path] = key;
            }
        }

        return Errno.OK;
    }

    public override Errno Link(in FuseRequestContext context, ulong node, ulong newParent, ReadOnlySpan<byte> newName, ref FuseEntryOut entry)
    {
        var path = Child(newParent, newName)!;
        return Native.link(Host(node), HostPath(path)) == 0 ? Entry(path, ref entry) : Native.LastErrno;
    }

    public override Errno Open(in FuseRequestContext context, ulong node, int flags, ref FuseOpenOut open)
    {
        var file = Native.Open(Host(node), flags & (Native.O_ACCMODE | Native.O_TRUNC | Native.O_APPEND), 0, out var errno);
        return file is null ? errno : Opened(node, file, ref open);
    }

    public override Errno Create(in FuseRequestContext context, ulong parent, ReadOnlySpan<byte> name, int flags, uint mode, uint umask, ref FuseEntryOut entry, ref FuseOpenOut open)
    {
        var path = Child(parent, name)!;
        var file = Native.Open(HostPath(path), (flags & (Native.O_ACCMODE | Native.O_TRUNC | Native.O_APPEND | Native.O_EXCL)) | Native.O_CREAT, mode & ~umask & 0xFFF, out var errno);
        if (file is null)
        {
            return errno;
        }

        errno = Entry(path, ref entry);
        if (errno != Errno.OK)
        {
            file.Dispose();
            return errno;
        }

        return Opened(entry.NodeId, file, ref open);
    }

    public override Errno Read(in FuseRequestContext context, ulong node, ulong fh, ulong offset, Span<byte> buffer, out int bytesRead)
    {
        Interlocked.Increment(ref Reads);
        bytesRead = RandomAccess.Read(_files[fh], buffer, (long)offset);
        return Errno.OK;
    }

    public override Errno Write(in FuseRequestContext context, ulong node, ulong fh, ulong offset, ReadOnlySpan<byte> data, FuseWriteFlags flags, out int bytesWritten)
    {
        RandomAccess.Write(_files[fh], data, (long)offset);
        bytesWritten = data.Length;
        return Errno.OK;
    }

    public override Errno Flush(in FuseRequestContext context, ulong node, ulong fh, ulong lockOwner) => Errno.OK;

    public override Errno Fsync(in FuseRequestContext context, ulong node, ulong fh, bool dataOnly) =>
        Native.Check(Native.fsync(_files[fh]));

    public override Errno Release(in FuseRequestContext context, ulong node, ulong fh, int flags, FuseReleaseFlags releaseFlags, ulong lockOwner)
    {
        if (_files.TryRemove(fh, out var file))
        {
            file.Dispose();
        }

        if (_backingIds.TryRemove(fh, out var backingNode))
        {
            Backings!.Release(backingNode);
        }

        return Errno.OK;
    }

    public override Errno Fallocate(in FuseRequestContext context, ulong node, ulong fh, ulong offset, ulong length, int mode) =>
        Native.Check(Native.fallocate(_files[fh], mode, (long)offset, (long)length));

    public override Errno Lseek(in FuseRequestContext context, ulong node, ulong fh, ulong offset, int whence, out ulong result)
    {
        var position = Native.lseek(_files[fh], (long)offset, whence);
        result = (ulong)Math.Max(position, 0);
        return position < 0 ? Native.LastErrno : Errno.OK;
    }

    public override Errno StatFs(in FuseRequestContext context, ulong node, ref FuseKStatfs stat)
    {
        Native.StatVfs buffer;
        unsafe
        {
            // safe because: buffer is a stack local of the struct statvfs size (112 bytes on LP64).
            if (Native.statvfs(root, &buffer) != 0)
            {
                return Native.LastErrno;
            }
        }

        stat.Blocks = buffer.Blocks;
        stat.Bfree = buffer.Bfree;
        stat.Bavail = buffer.Bavail;
        stat.Files = buffer.Files;
        stat.Ffree = buffer.Ffree;
        stat.Bsize = (uint)buffer.Bsize;
        stat.Frsize = (uint)buffer.Frsize;
        stat.Namelen = (uint)buffer.Namemax;
        return Errno.OK;
    }

    public override Errno Access(in FuseRequestContext context, ulong node, int mask) => Native.Check(Native.access(Host(node), mask));

    public override Errno OpenDir(in FuseRequestContext context, ulong node, int flags, ref FuseOpenOut open)
    {
        var host = Host(node);
        if (!Directory.Exists(host))
        {
            return Errno.ENOTDIR;
        }

        // A snapshot per open: the cookie of entry i is i + 1, stable however the directory changes.
        var names = new List<string> { ".", ".." };
        names.AddRange(Directory.EnumerateFileSystemEntries(host).Select(System.IO.Path.GetFileName).Order(StringComparer.Ordinal)!);
        open.Fh = (ulong)Interlocked.Increment(ref _nextHandle);
        _directories[open.Fh] = [.. names];
        return Errno.OK;
    }

    public override Errno ReadDir(in FuseRequestContext context, ulong node, ulong fh, ulong offset, ref FuseDirectoryWriter entries) =>
        List(node, fh, offset, ref entries, plus: false);

    public override Errno ReadDirPlus(in FuseRequestContext context, ulong node, ulong fh, ulong offset, ref FuseDirectoryWriter entries) =>
        List(node, fh, offset, ref entries, plus: true);

    public override Errno ReleaseDir(in FuseRequestContext context, ulong node, ulong fh, int flags)
    {
        _directories.TryRemove(fh, out _);
        return Errno.OK;
    }

    private Errno List(ulong node, ulong fh, ulong offset, ref FuseDirectoryWriter entries, bool plus)
    {
        var names = _directories[fh];
        var directory = Path(node);
        for (var i = (int)offset; i < names.Length; i++)
        {
            var name = Encoding.UTF8.GetBytes(names[i]);
            bool fitted;
            if (names[i] is "." or "..")
            {
                fitted = entries.TryAdd(name, 1, 4, (ulong)i + 1);
            }
            else if (plus)
            {
                var entry = default(FuseEntryOut);
                if (Entry(Join(directory, names[i]), ref entry) != Errno.OK)
                {
                    continue; // vanished since opendir
                }

                fitted = entries.TryAdd(name, entry, (ulong)i + 1);
            }
            else
            {
                fitted = Native.Lstat(HostPath(Join(directory, names[i])), out var stat) != Errno.OK
                    || entries.TryAdd(name, stat.Ino, (uint)(stat.Mode >> 12) & 15, (ulong)i + 1);
            }

            if (!fitted)
            {
                break;
            }
        }

        return Errno.OK;
    }

    private Errno Opened(ulong node, SafeFileHandle file, ref FuseOpenOut open)
    {
        open.Fh = (ulong)Interlocked.Increment(ref _nextHandle);
        _files[open.Fh] = file;
        if (UsePassthrough && Backings is not null)
        {
            var id = Backings.Acquire(node, file);
            if (id > 0)
            {
                open.OpenFlags |= FuseOpenFlags.Passthrough;
                open.BackingId = id;
                _backingIds[open.Fh] = node;
            }
        }

        return Errno.OK;
    }

    /// <summary>Stats <paramref name="path"/> and hands out one reference on its key.</summary>
    private Errno Entry(string path, ref FuseEntryOut entry)
    {
        var errno = Native.Lstat(HostPath(path), out var stat);
        if (errno != Errno.OK)
        {
            return errno;
        }

        lock (_lock)
        {
            if (!_byPath.TryGetValue(path, out var key))
            {
                key = _nextKey++;
                _byPath[path] = key;
                _nodes[key] = new Node(path);
            }

            _nodes[key].References++;
            entry.NodeId = key;
        }

        entry.Attr = Native.ToAttr(stat);
        entry.SetEntryTimeout(EntryTimeout);
        entry.SetAttrTimeout(AttrTimeout);
        return Errno.OK;
    }

    private string Path(ulong key)
    {
        lock (_lock)
        {
            return _nodes.TryGetValue(key, out var node) ? node.Path : throw new InvalidOperationException($"unknown key {key}");
        }
    }

    private string? Child(ulong parent, ReadOnlySpan<byte> name)
    {
        var text = Encoding.UTF8.GetString(name);
        var directory = Path(parent);
        return text switch
        {
            "." => directory,
            ".." => directory.Length == 0 ? "" : System.IO.Path.GetDirectoryName(directory) ?? "",
            _ => Join(directory, text),
        };
    }

    private static string Join(string directory, string name) => directory.Length == 0 ? name : directory + "/" + name;

    private static bool Below(string path, string prefix) => path == prefix || path.StartsWith(prefix + "/", StringComparison.Ordinal);

    private string Host(ulong key) => HostPath(Path(key));

    private string HostPath(string relative) => relative.Length == 0 ? root : root + "/" + relative;

    private sealed class Node(string path)
    {
        public string Path { get; set; } = path;

        public long References { get; set; }
    }
}
