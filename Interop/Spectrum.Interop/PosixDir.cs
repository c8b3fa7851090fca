using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Spectrum.Interop;

/// <summary>renameat2(2) flags.</summary>
[Flags]
public enum RenameFlags : uint
{
    None = 0,

    /// <summary>RENAME_NOREPLACE: fail with EEXIST rather than replace the target.</summary>
    NoReplace = 1,

    /// <summary>RENAME_EXCHANGE: swap the two names atomically (both must exist).</summary>
    Exchange = 2,

    /// <summary>RENAME_WHITEOUT (overlayfs; needs CAP_MKNOD).</summary>
    Whiteout = 4,
}

/// <summary>d_type of a directory entry (DT_* values).</summary>
public enum DirentType : byte
{
    Unknown = 0,
    Fifo = 1,
    CharDevice = 2,
    Directory = 4,
    BlockDevice = 6,
    Regular = 8,
    Symlink = 10,
    Socket = 12,
    Whiteout = 14,
}

/// <summary>One linux_dirent64 record, its name a view into the caller's buffer (without the NUL).</summary>
public readonly ref struct Dirent
{
    public Dirent(ulong ino, long offset, DirentType type, ReadOnlySpan<byte> name, int length = 0)
    {
        Ino = ino;
        Offset = offset;
        Type = type;
        Name = name;
        Length = length;
    }

    /// <summary>d_reclen: the bytes the record takes in the buffer (0 when not read from one).</summary>
    public int Length { get; }

    /// <summary>d_ino.</summary>
    public ulong Ino { get; }

    /// <summary>d_off: the cookie to <see cref="Posix.SeekDir"/> to so the next read starts after this entry.</summary>
    public long Offset { get; }

    /// <summary>d_type (<see cref="DirentType.Unknown"/> when the filesystem does not say).</summary>
    public DirentType Type { get; }

    /// <summary>d_name without its NUL.</summary>
    public ReadOnlySpan<byte> Name { get; }
}

/// <summary>
/// Walks the linux_dirent64 records <see cref="Posix.GetDents"/> put in a buffer, without copying:
/// <c>foreach (var e in new DirentReader(buffer[..length]))</c>. Stops at the first malformed record.
/// </summary>
public ref struct DirentReader
{
    // struct linux_dirent64 { u64 d_ino; s64 d_off; u16 d_reclen; u8 d_type; char d_name[]; }
    internal const int InoOffset = 0;
    internal const int OffOffset = 8;
    internal const int ReclenOffset = 16;
    internal const int TypeOffset = 18;
    internal const int NameOffset = 19;

    private ReadOnlySpan<byte> _rest;

    public DirentReader(ReadOnlySpan<byte> records)
    {
        _rest = records;
        Current = default;
    }

    public Dirent Current { get; private set; }

    // Inlined into listing loops (one call per entry): tier 0 code for it showed in profiles of a
    // 10,000-entry READDIR long after the loop itself was optimized.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public bool MoveNext()
    {
        if (_rest.Length <= NameOffset)
        {
            return false;
        }

        int reclen = MemoryMarshal.Read<ushort>(_rest[ReclenOffset..]);
        if (reclen <= NameOffset || reclen > _rest.Length)
        {
            _rest = default;
            return false;
        }

        var name = _rest[NameOffset..reclen];
        var nul = name.IndexOf((byte)0);
        Current = new Dirent(
            MemoryMarshal.Read<ulong>(_rest[InoOffset..]),
            MemoryMarshal.Read<long>(_rest[OffOffset..]),
            (DirentType)_rest[TypeOffset],
            nul >= 0 ? name[..nul] : name,
            reclen);
        _rest = _rest[reclen..];
        return true;
    }

    public readonly DirentReader GetEnumerator() => this;
}

public static partial class Posix
{
    /// <summary>mkdirat(dir, name, mode).</summary>
    public static unsafe Errno MkdirAt(SafeFd dir, ReadOnlySpan<byte> name, uint mode)
    {
        Span<byte> n = stackalloc byte[NameMax + 1];
        var error = CopyName(name, n);
        if (error != Errno.OK)
        {
            return error;
        }

        using var d = new Held(dir);
        if (!d.Ok)
        {
            return Errno.EBADF;
        }

        int rc;
        // safe because: n is a NUL-terminated stack buffer that outlives the call.
        fixed (byte* p = n)
        {
            while ((rc = mkdirat(d.Fd, p, mode)) < 0 && LastErrno() == Errno.EINTR)
            {
            }
        }

        return rc < 0 ? LastErrno() : Errno.OK;
    }

    /// <summary>unlinkat(dir, name, directory ? AT_REMOVEDIR : 0): removes a non-directory, or an empty directory.</summary>
    public static unsafe Errno UnlinkAt(SafeFd dir, ReadOnlySpan<byte> name, bool directory)
    {
        Span<byte> n = stackalloc byte[NameMax + 1];
        var error = CopyName(name, n);
        if (error != Errno.OK)
        {
            return error;
        }

        using var d = new Held(dir);
        if (!d.Ok)
        {
            return Errno.EBADF;
        }

        int rc;
        // safe because: n is a NUL-terminated stack buffer that outlives the call.
        fixed (byte* p = n)
        {
            while ((rc = unlinkat(d.Fd, p, directory ? AT_REMOVEDIR : 0)) < 0 && LastErrno() == Errno.EINTR)
            {
            }
        }

        return rc < 0 ? LastErrno() : Errno.OK;
    }

    /// <summary>renameat2(oldDir, oldName, newDir, newName, flags).</summary>
    public static unsafe Errno RenameAt(SafeFd oldDir, ReadOnlySpan<byte> oldName, SafeFd newDir, ReadOnlySpan<byte> newName, RenameFlags flags)
    {
        Span<byte> o = stackalloc byte[NameMax + 1];
        Span<byte> n = stackalloc byte[NameMax + 1];
        var error = CopyName(oldName, o);
        if (error == Errno.OK)
        {
            error = CopyName(newName, n);
        }

        if (error != Errno.OK)
        {
            return error;
        }

        using var od = new Held(oldDir);
        using var nd = new Held(newDir);
        if (!od.Ok || !nd.Ok)
        {
            return Errno.EBADF;
        }

        int rc;
        // safe because: o and n are NUL-terminated stack buffers that outlive the call.
        fixed (byte* po = o)
        fixed (byte* pn = n)
        {
            while ((rc = renameat2(od.Fd, po, nd.Fd, pn, (uint)flags)) < 0 && LastErrno() == Errno.EINTR)
            {
            }
        }

        return rc < 0 ? LastErrno() : Errno.OK;
    }

    /// <summary>linkat(oldDir, oldName, newDir, newName, 0): a hard link to the entry itself (a symlink is linked, not followed).</summary>
    public static unsafe Errno LinkAt(SafeFd oldDir, ReadOnlySpan<byte> oldName, SafeFd newDir, ReadOnlySpan<byte> newName)
    {
        Span<byte> o = stackalloc byte[NameMax + 1];
        Span<byte> n = stackalloc byte[NameMax + 1];
        var error = CopyName(oldName, o);
        if (error == Errno.OK)
        {
            error = CopyName(newName, n);
        }

        if (error != Errno.OK)
        {
            return error;
        }

        using var od = new Held(oldDir);
        using var nd = new Held(newDir);
        if (!od.Ok || !nd.Ok)
        {
            return Errno.EBADF;
        }

        int rc;
        // safe because: o and n are NUL-terminated stack buffers that outlive the call.
        fixed (byte* po = o)
        fixed (byte* pn = n)
        {
            while ((rc = linkat(od.Fd, po, nd.Fd, pn, 0)) < 0 && LastErrno() == Errno.EINTR)
            {
            }
        }

        return rc < 0 ? LastErrno() : Errno.OK;
    }

    /// <summary>
    /// linkat(file, "", newDir, newName, AT_EMPTY_PATH): a new name for the inode an fd (O_PATH or not)
    /// holds, with no lookup by the old name. Needs CAP_DAC_READ_SEARCH (the kernel answers ENOENT
    /// without it). A file whose last name is gone is <see cref="Errno.ENOENT"/> (unless it is an
    /// O_TMPFILE opened without O_EXCL).
    /// </summary>
    public static unsafe Errno LinkFd(SafeFd file, SafeFd newDir, ReadOnlySpan<byte> newName)
    {
        Span<byte> n = stackalloc byte[NameMax + 1];
        var error = CopyName(newName, n);
        if (error != Errno.OK)
        {
            return error;
        }

        using var f = new Held(file);
        using var nd = new Held(newDir);
        if (!f.Ok || !nd.Ok)
        {
            return Errno.EBADF;
        }

        int rc;
        // safe because: Empty is a NUL-terminated literal in the image and n a NUL-terminated stack buffer, both outliving the call.
        fixed (byte* pe = Empty)
        fixed (byte* pn = n)
        {
            while ((rc = linkat(f.Fd, pe, nd.Fd, pn, AT_EMPTY_PATH)) < 0 && LastErrno() == Errno.EINTR)
            {
            }
        }

        return rc < 0 ? LastErrno() : Errno.OK;
    }

    /// <summary>symlinkat(target, dir, name): <paramref name="target"/> is stored as given (it is data, never resolved here).</summary>
    public static unsafe Errno SymlinkAt(ReadOnlySpan<byte> target, SafeFd dir, ReadOnlySpan<byte> name)
    {
        Span<byte> t = stackalloc byte[PathMax];
        Span<byte> n = stackalloc byte[NameMax + 1];
        var error = CopyPath(target, t);
        if (error == Errno.OK)
        {
            error = CopyName(name, n);
        }

        if (error != Errno.OK)
        {
            return error;
        }

        using var d = new Held(dir);
        if (!d.Ok)
        {
            return Errno.EBADF;
        }

        int rc;
        // safe because: t and n are NUL-terminated stack buffers that outlive the call.
        fixed (byte* pt = t)
        fixed (byte* pn = n)
        {
            while ((rc = symlinkat(pt, d.Fd, pn)) < 0 && LastErrno() == Errno.EINTR)
            {
            }
        }

        return rc < 0 ? LastErrno() : Errno.OK;
    }

    /// <summary>
    /// readlinkat(dir, name, buffer): the target's bytes (no NUL) in <paramref name="buffer"/>[..length].
    /// A target that fills the buffer may have been cut short and is <see cref="Errno.ERANGE"/>: pass
    /// <see cref="PathMax"/> bytes. Not a symlink is <see cref="Errno.EINVAL"/>.
    /// </summary>
    public static unsafe Errno ReadLinkAt(SafeFd dir, ReadOnlySpan<byte> name, Span<byte> buffer, out int length)
    {
        length = 0;
        Span<byte> n = stackalloc byte[NameMax + 1];
        var error = CopyName(name, n);
        if (error != Errno.OK)
        {
            return error;
        }

        using var d = new Held(dir);
        return !d.Ok ? Errno.EBADF : ReadLink(d.Fd, n, buffer, out length);
    }

    /// <summary>readlinkat(symlink, "", buffer): the target of the symlink an O_PATH | O_NOFOLLOW fd holds; otherwise as <see cref="ReadLinkAt"/>.</summary>
    public static Errno ReadLink(SafeFd symlink, Span<byte> buffer, out int length)
    {
        length = 0;
        using var h = new Held(symlink);
        return !h.Ok ? Errno.EBADF : ReadLink(h.Fd, Empty, buffer, out length);
    }

    /// <summary>
    /// mknodat(dir, name, mode, dev): <paramref name="mode"/> carries the type (S_IFREG 0x8000,
    /// S_IFIFO 0x1000, S_IFSOCK 0xC000, or a device type with <paramref name="dev"/> as <see cref="MakeDev"/>
    /// gives it). Which types are allowed is the caller's policy (the view allows regular files only).
    /// </summary>
    public static unsafe Errno MknodAt(SafeFd dir, ReadOnlySpan<byte> name, uint mode, ulong dev)
    {
        Span<byte> n = stackalloc byte[NameMax + 1];
        var error = CopyName(name, n);
        if (error != Errno.OK)
        {
            return error;
        }

        using var d = new Held(dir);
        if (!d.Ok)
        {
            return Errno.EBADF;
        }

        int rc;
        // safe because: n is a NUL-terminated stack buffer that outlives the call.
        fixed (byte* p = n)
        {
            while ((rc = mknodat(d.Fd, p, mode, dev)) < 0 && LastErrno() == Errno.EINTR)
            {
            }
        }

        return rc < 0 ? LastErrno() : Errno.OK;
    }

    /// <summary>
    /// getdents64(dir, buffer): linux_dirent64 records in <paramref name="buffer"/>[..length], read
    /// with <see cref="DirentReader"/>; length 0 is the end of the directory. The fd must be a real
    /// directory fd (O_RDONLY | O_DIRECTORY, e.g. from <see cref="Reopen"/>), not O_PATH (that is
    /// <see cref="Errno.EBADF"/>). A buffer too small for the next entry is <see cref="Errno.EINVAL"/>.
    /// </summary>
    public static unsafe Errno GetDents(SafeFd dir, Span<byte> buffer, out int length)
    {
        length = 0;
        using var d = new Held(dir);
        if (!d.Ok)
        {
            return Errno.EBADF;
        }

        nint rc;
        // safe because: the kernel writes at most buffer.Length bytes into the pinned span.
        fixed (byte* p = buffer)
        {
            while ((rc = getdents64(d.Fd, p, (nuint)buffer.Length)) < 0 && LastErrno() == Errno.EINTR)
            {
            }
        }

        if (rc < 0)
        {
            return LastErrno();
        }

        length = (int)rc;
        return Errno.OK;
    }

    /// <summary>
    /// lseek(dir, offset, SEEK_SET) on a directory fd: seekdir. <paramref name="offset"/> is 0 (rewind)
    /// or a <see cref="Dirent.Offset"/> this fd's directory returned; the next <see cref="GetDents"/>
    /// continues after that entry.
    /// </summary>
    public static Errno SeekDir(SafeFd dir, long offset) => Seek(dir, offset, SeekWhence.Set, out _);

    private static unsafe Errno ReadLink(int dirfd, ReadOnlySpan<byte> name0, Span<byte> buffer, out int length)
    {
        length = 0;
        nint rc;
        // safe because: name0 is NUL-terminated and the kernel writes at most buffer.Length bytes into the pinned span.
        fixed (byte* pn = name0)
        fixed (byte* pb = buffer)
        {
            while ((rc = readlinkat(dirfd, pn, pb, (nuint)buffer.Length)) < 0 && LastErrno() == Errno.EINTR)
            {
            }
        }

        if (rc < 0)
        {
            return LastErrno();
        }

        if (rc >= buffer.Length)
        {
            return Errno.ERANGE;
        }

        length = (int)rc;
        return Errno.OK;
    }

    [LibraryImport("libc", SetLastError = true)]
    private static unsafe partial int mkdirat(int dirfd, byte* path, uint mode);

    [LibraryImport("libc", SetLastError = true)]
    private static unsafe partial int unlinkat(int dirfd, byte* path, int flags);

    [LibraryImport("libc", SetLastError = true)]
    private static unsafe partial int renameat2(int olddirfd, byte* oldpath, int newdirfd, byte* newpath, uint flags);

    [LibraryImport("libc", SetLastError = true)]
    private static unsafe partial int linkat(int olddirfd, byte* oldpath, int newdirfd, byte* newpath, int flags);

    [LibraryImport("libc", SetLastError = true)]
    private static unsafe partial int symlinkat(byte* target, int newdirfd, byte* linkpath);

    [LibraryImport("libc", SetLastError = true)]
    private static unsafe partial nint readlinkat(int dirfd, byte* path, byte* buf, nuint size);

    [LibraryImport("libc", SetLastError = true)]
    private static unsafe partial int mknodat(int dirfd, byte* path, uint mode, ulong dev);

    [LibraryImport("libc", SetLastError = true)]
    private static unsafe partial nint getdents64(int fd, byte* buf, nuint count);
}
