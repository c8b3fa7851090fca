using System.Text;
using Spectrum.Interop;

namespace Spectrum.Broker.Views;

/// <summary>
/// The mount points inside the tree, by the directory that holds them. A view never crosses a mount
/// (lookups resolve with RESOLVE_NO_XDEV, so a mount point is ENOENT), and its listings leave mount
/// points out too: otherwise a READDIR would list a name that READDIRPLUS (which looks each name up)
/// leaves out and that no lookup finds, and the kernel mixes both kinds of request in one listing.
/// getdents cannot tell a mount point from the directory under it, and a statx per entry would read
/// every inode of a cold directory from disk, so the table is built from /proc/self/mountinfo and
/// rebuilt only when the mount table changes: that file polls POLLPRI after every mount or unmount
/// (fs/proc_namespace.c, mounts_poll). A listing pays one poll(2) when the directory is opened and a
/// dictionary lookup; only a directory that holds a mount point pays a compare per entry.
/// </summary>
internal sealed class TreeMounts : IDisposable
{
    private readonly SafeFd _tree;
    private readonly SafeFd? _mountinfo;
    private readonly Lock _lock = new();
    private Dictionary<(ulong Dev, ulong Ino), byte[][]> _byDirectory = [];

    public TreeMounts(SafeFd tree)
    {
        _tree = tree;
        try
        {
            using var proc = Files.OpenDirectoryPath("/proc/self");
            _mountinfo = Posix.OpenAt(proc, "mountinfo"u8, OpenFlags.ReadOnly, 0, out var fd) == Errno.OK ? fd : null;
        }
        catch (IOException)
        {
            _mountinfo = null; // no /proc: no mount points known; lookups still never cross one
        }

        Refresh();
    }

    /// <summary>The names of the mount points in the directory (dev, ino), or null: most directories hold none.</summary>
    public byte[][]? In(ulong dev, ulong ino)
    {
        lock (_lock)
        {
            if (_mountinfo is not null
                && Posix.Poll(_mountinfo, PollEvents.Priority, 0, out var ready) == Errno.OK
                && (ready & (PollEvents.Priority | PollEvents.Error)) != 0)
            {
                Refresh();
            }

            return _byDirectory.Count != 0 && _byDirectory.TryGetValue((dev, ino), out var names) ? names : null;
        }
    }

    public void Dispose() => _mountinfo?.Dispose();

    private void Refresh()
    {
        var tree = TreePathBytes();
        byte[] table;
        try
        {
            table = File.ReadAllBytes("/proc/self/mountinfo");
        }
        catch (IOException)
        {
            return;
        }

        var found = new Dictionary<(ulong Dev, ulong Ino), List<byte[]>>();
        foreach (var line in table.AsSpan().Split((byte)'\n'))
        {
            // "36 35 98:0 /mnt1 /mnt/parent rw,noatime master:1 - ext3 /dev/root rw": the fifth field is the mount point.
            var fields = table.AsSpan(line);
            var mountPoint = ReadOnlySpan<byte>.Empty;
            var index = 0;
            foreach (var field in fields.Split((byte)' '))
            {
                if (index++ == 4)
                {
                    mountPoint = fields[field];
                    break;
                }
            }

            var path = Unescape(mountPoint);
            if (tree is null || !Below(path, tree, out var relative))
            {
                continue;
            }

            var slash = relative.AsSpan().LastIndexOf((byte)'/');
            var parent = slash < 0 ? "."u8 : relative.AsSpan(0, slash);
            var name = relative.AsSpan(slash + 1).ToArray();
            if (Posix.OpenBeneath(_tree, parent, OpenFlags.Path | OpenFlags.Directory, 0, out var fd) != Errno.OK)
            {
                continue; // below another mount point: no view reaches it
            }

            using (fd)
            {
                if (Posix.Stat(fd!, out var st) == Errno.OK)
                {
                    if (!found.TryGetValue((st.Dev, st.Ino), out var names))
                    {
                        found[(st.Dev, st.Ino)] = names = [];
                    }

                    if (!names.Exists(n => n.AsSpan().SequenceEqual(name)))
                    {
                        names.Add(name);
                    }
                }
            }
        }

        _byDirectory = found.ToDictionary(p => p.Key, p => p.Value.ToArray());
    }

    /// <summary>True when <paramref name="path"/> lies strictly below <paramref name="tree"/>; <paramref name="relative"/> is the rest.</summary>
    private static bool Below(byte[] path, byte[] tree, out byte[] relative)
    {
        relative = [];
        var prefix = tree.Length == 1 ? 0 : tree.Length; // the tree "/" itself: every other path is below it
        if (path.Length <= prefix + 1 || !path.AsSpan().StartsWith(tree) || path[prefix] != '/')
        {
            return false;
        }

        relative = path[(prefix + 1)..];
        return true;
    }

    /// <summary>mountinfo escapes space, tab, newline and backslash as \ooo (octal).</summary>
    private static byte[] Unescape(ReadOnlySpan<byte> field)
    {
        var result = new List<byte>(field.Length);
        for (var i = 0; i < field.Length; i++)
        {
            if (field[i] == '\\' && i + 3 < field.Length && IsOctal(field[i + 1]) && IsOctal(field[i + 2]) && IsOctal(field[i + 3]))
            {
                result.Add((byte)(((field[i + 1] - '0') << 6) | ((field[i + 2] - '0') << 3) | (field[i + 3] - '0')));
                i += 3;
            }
            else
            {
                result.Add(field[i]);
            }
        }

        return [.. result];

        static bool IsOctal(byte b) => b is >= (byte)'0' and <= (byte)'7';
    }

    /// <summary>The tree's absolute path as the kernel names it (the link behind the fd), or null.</summary>
    private byte[]? TreePathBytes()
    {
        var added = false;
        try
        {
            _tree.DangerousAddRef(ref added);
            var target = new FileInfo($"/proc/self/fd/{_tree.DangerousGetHandle()}").LinkTarget;
            return target is null ? null : Encoding.UTF8.GetBytes(target);
        }
        catch (IOException)
        {
            return null;
        }
        finally
        {
            if (added)
            {
                _tree.DangerousRelease();
            }
        }
    }
}
