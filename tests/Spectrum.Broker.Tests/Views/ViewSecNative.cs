using System.Buffers.Binary;
using System.Runtime.InteropServices;
using System.Text;
using Spectrum.Interop;

namespace Spectrum.Broker.Tests.Views;

/// <summary>
/// libc calls for the view security tests: the test process plays the guest and makes the very
/// system calls an attacker would, on the real mount, and reads the errno it gets back.
/// Every call returns <see cref="Errno.OK"/> or the errno; nothing throws.
/// </summary>
internal static unsafe partial class ViewSecNative
{
    public const int O_NONBLOCK = 0x800;
    public const int O_DIRECTORY = 0x10000;
    public const int O_NOFOLLOW = 0x20000;
    public const int O_PATH = 0x200000;
    public const int AT_SYMLINK_NOFOLLOW = 0x100;
    public const int AT_EMPTY_PATH = 0x1000;
    public const uint S_IFMT = 0xF000;
    public const uint S_IFIFO = 0x1000;
    public const uint S_IFCHR = 0x2000;
    public const uint S_IFDIR = 0x4000;
    public const uint S_IFREG = 0x8000;
    public const uint S_IFLNK = 0xA000;
    public const uint S_IFSOCK = 0xC000;

    private static Errno Result(long rc) => rc < 0 ? (Errno)Marshal.GetLastPInvokeError() : Errno.OK;

    /// <summary>A NUL-terminated copy of raw name bytes (guest names need not be UTF-8).</summary>
    public static byte[] Z(ReadOnlySpan<byte> bytes)
    {
        var z = new byte[bytes.Length + 1];
        bytes.CopyTo(z);
        return z;
    }

    public static byte[] Z(string text) => Z(Encoding.UTF8.GetBytes(text));

    // ---- raw imports ---------------------------------------------------------------------------

    [LibraryImport("libc", EntryPoint = "openat", SetLastError = true)]
    private static partial int sys_openat(int dirfd, byte* path, int flags, uint mode);

    [LibraryImport("libc", EntryPoint = "close", SetLastError = true)]
    private static partial int sys_close(int fd);

    [LibraryImport("libc", EntryPoint = "pread", SetLastError = true)]
    private static partial nint sys_pread(int fd, byte* buffer, nuint count, long offset);

    [LibraryImport("libc", EntryPoint = "pwrite", SetLastError = true)]
    private static partial nint sys_pwrite(int fd, byte* buffer, nuint count, long offset);

    [LibraryImport("libc", EntryPoint = "renameat2", SetLastError = true)]
    private static partial int sys_renameat2(int olddir, byte* oldPath, int newdir, byte* newPath, uint flags);

    [LibraryImport("libc", EntryPoint = "linkat", SetLastError = true)]
    private static partial int sys_linkat(int olddir, byte* oldPath, int newdir, byte* newPath, int flags);

    [LibraryImport("libc", EntryPoint = "symlinkat", SetLastError = true)]
    private static partial int sys_symlinkat(byte* target, int dir, byte* path);

    [LibraryImport("libc", EntryPoint = "readlinkat", SetLastError = true)]
    private static partial nint sys_readlinkat(int dir, byte* path, byte* buffer, nuint size);

    [LibraryImport("libc", EntryPoint = "mknodat", SetLastError = true)]
    private static partial int sys_mknodat(int dir, byte* path, uint mode, ulong dev);

    [LibraryImport("libc", EntryPoint = "mkdirat", SetLastError = true)]
    private static partial int sys_mkdirat(int dir, byte* path, uint mode);

    [LibraryImport("libc", EntryPoint = "unlinkat", SetLastError = true)]
    private static partial int sys_unlinkat(int dir, byte* path, int flags);

    [LibraryImport("libc", EntryPoint = "lsetxattr", SetLastError = true)]
    private static partial int sys_lsetxattr(byte* path, byte* name, byte* value, nuint size, int flags);

    [LibraryImport("libc", EntryPoint = "fchownat", SetLastError = true)]
    private static partial int sys_fchownat(int dir, byte* path, uint uid, uint gid, int flags);

    [LibraryImport("libc", EntryPoint = "fchmodat", SetLastError = true)]
    private static partial int sys_fchmodat(int dir, byte* path, uint mode, int flags);

    [LibraryImport("libc", EntryPoint = "truncate", SetLastError = true)]
    private static partial int sys_truncate(byte* path, long length);

    [LibraryImport("libc", EntryPoint = "statx", SetLastError = true)]
    private static partial int sys_statx(int dir, byte* path, int flags, uint mask, byte* buffer);

    [LibraryImport("libc", EntryPoint = "faccessat", SetLastError = true)]
    private static partial int sys_faccessat(int dir, byte* path, int mode, int flags);

    [LibraryImport("libc", EntryPoint = "lseek", SetLastError = true)]
    private static partial long sys_lseek(int fd, long offset, int whence);

    [LibraryImport("libc", EntryPoint = "getdents64", SetLastError = true)]
    private static partial nint sys_getdents64(int fd, byte* buffer, nuint size);

    // ---- wrappers ------------------------------------------------------------------------------

    public static Errno OpenAt(int dir, ReadOnlySpan<byte> pathZ, int flags, uint mode, out int fd)
    {
        fixed (byte* p = pathZ)
        {
            fd = sys_openat(dir, p, flags | O_CLOEXEC, mode);
        }

        return Result(fd);
    }

    public static Errno OpenAt(int dir, string path, int flags, uint mode, out int fd) => OpenAt(dir, Z(path), flags, mode, out fd);

    public static Errno Open(string path, int flags, out int fd, uint mode = 0x1A4) => OpenAt(AT_FDCWD, Z(path), flags, mode, out fd);

    /// <summary>Opens and closes at once: just the errno.</summary>
    public static Errno TryOpen(string path, int flags, uint mode = 0x1A4)
    {
        var e = Open(path, flags, out var fd, mode);
        if (e == Errno.OK)
        {
            Close(fd);
        }

        return e;
    }

    public static void Close(int fd) => sys_close(fd);

    public static Errno PRead(int fd, Span<byte> buffer, long offset, out int read)
    {
        fixed (byte* b = buffer)
        {
            var n = sys_pread(fd, b, (nuint)buffer.Length, offset);
            read = (int)Math.Max(n, 0);
            return Result(n);
        }
    }

    public static Errno PWrite(int fd, ReadOnlySpan<byte> data, long offset)
    {
        fixed (byte* b = data)
        {
            return Result(sys_pwrite(fd, b, (nuint)data.Length, offset));
        }
    }

    /// <summary>Reads up to 4 KiB from the start of an open fd as UTF-8.</summary>
    public static Errno ReadText(int fd, out string text)
    {
        Span<byte> buffer = stackalloc byte[4096];
        var e = PRead(fd, buffer, 0, out var n);
        text = e == Errno.OK ? Encoding.UTF8.GetString(buffer[..n]) : "";
        return e;
    }

    /// <summary>open + read + close of a path: its text, or the errno of the step that failed.</summary>
    public static Errno ReadFile(string path, out string text)
    {
        text = "";
        var e = Open(path, O_RDONLY, out var fd);
        if (e != Errno.OK)
        {
            return e;
        }

        try
        {
            return ReadText(fd, out text);
        }
        finally
        {
            Close(fd);
        }
    }

    public static Errno Rename2(string from, string to, uint flags = 0)
    {
        fixed (byte* a = Z(from))
        fixed (byte* b = Z(to))
        {
            return Result(sys_renameat2(AT_FDCWD, a, AT_FDCWD, b, flags));
        }
    }

    public static Errno Link(string from, string to)
    {
        fixed (byte* a = Z(from))
        fixed (byte* b = Z(to))
        {
            return Result(sys_linkat(AT_FDCWD, a, AT_FDCWD, b, 0));
        }
    }

    public static Errno Symlink(string target, string path)
    {
        fixed (byte* t = Z(target))
        fixed (byte* p = Z(path))
        {
            return Result(sys_symlinkat(t, AT_FDCWD, p));
        }
    }

    public static Errno ReadLink(string path, out string target)
    {
        var buffer = new byte[4096];
        fixed (byte* p = Z(path))
        fixed (byte* b = buffer)
        {
            var n = sys_readlinkat(AT_FDCWD, p, b, (nuint)buffer.Length);
            target = n > 0 ? Encoding.UTF8.GetString(buffer, 0, (int)n) : "";
            return Result(n);
        }
    }

    public static Errno Mknod(string path, uint mode, ulong dev = 0)
    {
        fixed (byte* p = Z(path))
        {
            return Result(sys_mknodat(AT_FDCWD, p, mode, dev));
        }
    }

    public static Errno MkdirAt(int dir, ReadOnlySpan<byte> pathZ, uint mode = 0x1ED)
    {
        fixed (byte* p = pathZ)
        {
            return Result(sys_mkdirat(dir, p, mode));
        }
    }

    public static Errno Mkdir(string path, uint mode = 0x1ED) => MkdirAt(AT_FDCWD, Z(path), mode);

    public static Errno UnlinkAt(int dir, ReadOnlySpan<byte> pathZ, bool directory = false)
    {
        fixed (byte* p = pathZ)
        {
            return Result(sys_unlinkat(dir, p, directory ? 0x200 : 0));
        }
    }

    public static Errno Unlink(string path) => UnlinkAt(AT_FDCWD, Z(path));

    public static Errno Rmdir(string path) => UnlinkAt(AT_FDCWD, Z(path), directory: true);

    public static Errno SetXattr(string path, string name, string value)
    {
        var v = Encoding.UTF8.GetBytes(value);
        fixed (byte* p = Z(path))
        fixed (byte* n = Z(name))
        fixed (byte* b = v)
        {
            return Result(sys_lsetxattr(p, n, b, (nuint)v.Length, 0));
        }
    }

    public static Errno Chown(string path, uint uid, uint gid)
    {
        fixed (byte* p = Z(path))
        {
            return Result(sys_fchownat(AT_FDCWD, p, uid, gid, 0));
        }
    }

    /// <summary>access(2): <paramref name="mask"/> is R_OK (4), W_OK (2), X_OK (1).</summary>
    public static Errno Access(string path, int mask)
    {
        fixed (byte* p = Z(path))
        {
            return Result(sys_faccessat(AT_FDCWD, p, mask, 0));
        }
    }

    public static Errno Chmod(string path, uint mode)
    {
        fixed (byte* p = Z(path))
        {
            return Result(sys_fchmodat(AT_FDCWD, p, mode, 0));
        }
    }

    public static Errno Truncate(string path, long length)
    {
        fixed (byte* p = Z(path))
        {
            return Result(sys_truncate(p, length));
        }
    }

    /// <summary>What the tests need from statx.</summary>
    public readonly record struct Stat(uint Mode, uint Uid, uint Gid, ulong Ino, ulong Size, uint Nlink, ulong Dev)
    {
        public uint Type => Mode & S_IFMT;
    }

    public static Errno StatAt(int dir, ReadOnlySpan<byte> pathZ, int flags, out Stat st)
    {
        Span<byte> buffer = stackalloc byte[256];
        buffer.Clear();
        int rc;
        fixed (byte* p = pathZ)
        fixed (byte* b = buffer)
        {
            rc = sys_statx(dir, p, flags, 0x7FF, b);
        }

        var e = Result(rc);
        st = e != Errno.OK ? default : new Stat(
            BinaryPrimitives.ReadUInt16LittleEndian(buffer[28..]),
            BinaryPrimitives.ReadUInt32LittleEndian(buffer[20..]),
            BinaryPrimitives.ReadUInt32LittleEndian(buffer[24..]),
            BinaryPrimitives.ReadUInt64LittleEndian(buffer[32..]),
            BinaryPrimitives.ReadUInt64LittleEndian(buffer[40..]),
            BinaryPrimitives.ReadUInt32LittleEndian(buffer[16..]),
            ((ulong)BinaryPrimitives.ReadUInt32LittleEndian(buffer[136..]) << 32) | BinaryPrimitives.ReadUInt32LittleEndian(buffer[140..]));
        return e;
    }

    /// <summary>stat(2) that follows a final symlink.</summary>
    public static Errno StatPath(string path, out Stat st) => StatAt(AT_FDCWD, Z(path), 0, out st);

    /// <summary>lstat(2).</summary>
    public static Errno LStat(string path, out Stat st) => StatAt(AT_FDCWD, Z(path), AT_SYMLINK_NOFOLLOW, out st);

    public static Errno FStat(int fd, out Stat st) => StatAt(fd, Z(""), AT_EMPTY_PATH, out st);

    /// <summary>The raw names of a directory, read with getdents64 (no decoding, nothing skipped but "." and "..").</summary>
    public static Errno ListRaw(string path, out List<byte[]> names)
    {
        names = [];
        var e = Open(path, O_RDONLY | O_DIRECTORY, out var fd);
        if (e != Errno.OK)
        {
            return e;
        }

        try
        {
            var buffer = new byte[32768];
            while (true)
            {
                nint n;
                fixed (byte* b = buffer)
                {
                    n = sys_getdents64(fd, b, (nuint)buffer.Length);
                }

                if (n < 0)
                {
                    return Result(n);
                }

                if (n == 0)
                {
                    return Errno.OK;
                }

                var at = 0;
                while (at < n)
                {
                    var reclen = BinaryPrimitives.ReadUInt16LittleEndian(buffer.AsSpan(at + 16));
                    var name = buffer.AsSpan(at + 19, reclen - 19);
                    name = name[..name.IndexOf((byte)0)];
                    if (!name.SequenceEqual("."u8) && !name.SequenceEqual(".."u8))
                    {
                        names.Add(name.ToArray());
                    }

                    at += reclen;
                }
            }
        }
        finally
        {
            Close(fd);
        }
    }

    /// <summary>One linux_dirent64 record as getdents64 returned it.</summary>
    public readonly record struct DirEntry(string Name, ulong Ino, long Offset, byte Type);

    /// <summary>
    /// Every record getdents64 returns on <paramref name="fd"/> from where it is, "." and ".."
    /// included, reading <paramref name="bufferSize"/> bytes at a time (a small buffer makes the
    /// kernel resume from a cookie often).
    /// </summary>
    public static Errno ReadEntries(int fd, int bufferSize, out List<DirEntry> entries)
    {
        entries = [];
        var buffer = new byte[bufferSize];
        while (true)
        {
            nint n;
            fixed (byte* b = buffer)
            {
                n = sys_getdents64(fd, b, (nuint)buffer.Length);
            }

            if (n <= 0)
            {
                return Result(n);
            }

            for (var at = 0; at < n;)
            {
                var reclen = BinaryPrimitives.ReadUInt16LittleEndian(buffer.AsSpan(at + 16));
                var name = buffer.AsSpan(at + 19, reclen - 19);
                name = name[..name.IndexOf((byte)0)];
                entries.Add(new DirEntry(
                    Encoding.UTF8.GetString(name),
                    BinaryPrimitives.ReadUInt64LittleEndian(buffer.AsSpan(at)),
                    BinaryPrimitives.ReadInt64LittleEndian(buffer.AsSpan(at + 8)),
                    buffer[at + 18]));
                at += reclen;
            }
        }
    }

    /// <summary>lseek(fd, offset, SEEK_SET): on a directory, seekdir to a cookie.</summary>
    public static Errno SeekSet(int fd, long offset) => Result(sys_lseek(fd, offset, 0));

    /// <summary>The names of a directory as text (invalid UTF-8 shows as U+FFFD), sorted ordinally.</summary>
    public static List<string> List(string path)
    {
        var e = ListRaw(path, out var names);
        Assert.Equal(Errno.OK, e);
        return [.. names.Select(n => Encoding.UTF8.GetString(n)).Order(StringComparer.Ordinal)];
    }
}
