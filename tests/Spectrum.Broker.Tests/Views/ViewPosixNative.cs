using System.Diagnostics;
using System.IO.MemoryMappedFiles;
using System.Runtime.InteropServices;
using System.Text;
using Microsoft.Win32.SafeHandles;
using Spectrum.Interop;

namespace Spectrum.Broker.Tests.Views;

/// <summary>
/// Plain libc calls for the view tests: the test process makes the same system calls a guest
/// application would, on the real mount, and checks the errno it gets (x86_64/aarch64 layouts).
/// </summary>
internal static partial class ViewPosixNative
{
    public const int O_APPEND = 0x400;
    public const int SEEK_SET = 0;
    public const int SEEK_END = 2;
    public const int SEEK_DATA = 3;
    public const int SEEK_HOLE = 4;
    public const int F_GETLK = 5;
    public const int F_SETLK = 6;
    public const int F_OFD_GETLK = 36;
    public const int F_OFD_SETLK = 37;
    public const short F_RDLCK = 0;
    public const short F_WRLCK = 1;
    public const short F_UNLCK = 2;
    public const int LOCK_SH = 1;
    public const int LOCK_EX = 2;
    public const int LOCK_NB = 4;
    public const int LOCK_UN = 8;
    public const int XATTR_CREATE = 1;
    public const long FUSE_SUPER_MAGIC = 0x65735546;
    private const int AT_SYMLINK_NOFOLLOW = 0x100;
    private const int AT_EMPTY_PATH = 0x1000;

    /// <summary>struct flock (32 bytes on 64-bit Linux).</summary>
    [StructLayout(LayoutKind.Explicit, Size = 32)]
    public struct Flock
    {
        [FieldOffset(0)]
        public short Type;

        [FieldOffset(2)]
        public short Whence;

        [FieldOffset(8)]
        public long Start;

        [FieldOffset(16)]
        public long Len;

        [FieldOffset(24)]
        public int Pid;
    }

    [StructLayout(LayoutKind.Sequential)]
    public struct StatxTimestamp
    {
        public long Sec;
        public uint Nsec;
        public int Reserved;
    }

    /// <summary>struct statx.</summary>
    [StructLayout(LayoutKind.Sequential, Size = 256)]
    public struct Statx
    {
        public uint Mask;
        public uint Blksize;
        public ulong Attributes;
        public uint Nlink;
        public uint Uid;
        public uint Gid;
        public ushort Mode;
        public ushort Spare0;
        public ulong Ino;
        public ulong Size;
        public ulong Blocks;
        public ulong AttributesMask;
        public StatxTimestamp Atime;
        public StatxTimestamp Btime;
        public StatxTimestamp Ctime;
        public StatxTimestamp Mtime;
    }

    /// <summary>struct statfs (x86_64/aarch64: 120 bytes).</summary>
    [StructLayout(LayoutKind.Sequential, Size = 120)]
    public struct Statfs
    {
        public long Type;
        public long Bsize;
        public ulong Blocks;
        public ulong Bfree;
        public ulong Bavail;
        public ulong Files;
        public ulong Ffree;
        public ulong Fsid;
        public long Namelen;
        public long Frsize;
        public long Flags;
    }

    /// <summary>struct timespec, for utimensat.</summary>
    [StructLayout(LayoutKind.Sequential)]
    public struct Timespec
    {
        public long Sec;
        public long Nsec;
    }

    public static Errno LastErrno => (Errno)Marshal.GetLastPInvokeError();

    public static Errno Check(int rc) => rc == 0 ? Errno.OK : LastErrno;

    /// <summary>open(2); null and the errno on failure.</summary>
    public static SafeFileHandle? Open(string path, int flags, uint mode, out Errno errno)
    {
        var fd = open(path, flags | O_CLOEXEC, mode);
        errno = fd >= 0 ? Errno.OK : LastErrno;
        return fd >= 0 ? new SafeFileHandle(fd, ownsHandle: true) : null;
    }

    /// <summary>open(2) that must succeed.</summary>
    public static SafeFileHandle OpenOrFail(string path, int flags, uint mode = 0x1A4)
    {
        var fd = Open(path, flags, mode, out var errno);
        Assert.True(fd is not null, $"open({path}, 0x{flags:x}) failed with {errno}");
        return fd!;
    }

    public static unsafe Errno Write(SafeFileHandle fd, string text, out int written)
    {
        var bytes = Encoding.UTF8.GetBytes(text);
        fixed (byte* p = bytes)
        {
            var n = write(fd, p, (nuint)bytes.Length);
            written = (int)Math.Max(n, 0);
            return n < 0 ? LastErrno : Errno.OK;
        }
    }

    /// <summary>pread(2) of up to <paramref name="count"/> bytes at <paramref name="offset"/>, as text.</summary>
    public static unsafe string PRead(SafeFileHandle fd, int count, long offset, out Errno errno)
    {
        var buffer = new byte[count];
        fixed (byte* p = buffer)
        {
            var n = pread(fd, p, (nuint)count, offset);
            errno = n < 0 ? LastErrno : Errno.OK;
            return n <= 0 ? "" : Encoding.UTF8.GetString(buffer, 0, (int)n);
        }
    }

    public static long Seek(SafeFileHandle fd, long offset, int whence, out Errno errno)
    {
        var r = lseek(fd, offset, whence);
        errno = r < 0 ? LastErrno : Errno.OK;
        return r;
    }

    public static unsafe Errno Fstat(SafeFileHandle fd, out Statx stat)
    {
        Statx buffer;
        var rc = statx_fd(fd, "", AT_EMPTY_PATH, 0xFFF, &buffer);
        stat = buffer;
        return Check(rc);
    }

    public static unsafe Errno Lstat(string path, out Statx stat)
    {
        Statx buffer;
        var rc = statx(AT_FDCWD, path, AT_SYMLINK_NOFOLLOW, 0xFFF, &buffer);
        stat = buffer;
        return Check(rc);
    }

    public static unsafe Errno StatFs(string path, out Statfs stat)
    {
        Statfs buffer;
        var rc = statfs(path, &buffer);
        stat = buffer;
        return Check(rc);
    }

    public static unsafe Errno Lock(SafeFileHandle fd, int command, ref Flock lk)
    {
        fixed (Flock* p = &lk)
        {
            return Check(fcntl(fd, command, p));
        }
    }

    public static Errno FlockFile(SafeFileHandle fd, int operation) => Check(flock(fd, operation));

    public static unsafe Errno UtimeNs(string path, Timespec atime, Timespec mtime)
    {
        var times = stackalloc Timespec[2];
        times[0] = atime;
        times[1] = mtime;
        return Check(utimensat(AT_FDCWD, path, times, AT_SYMLINK_NOFOLLOW));
    }

    public static unsafe Errno SetXattr(string path, string name, string value, int flags)
    {
        var bytes = Encoding.UTF8.GetBytes(value);
        fixed (byte* p = bytes)
        {
            return Check(setxattr(path, name, p, (nuint)bytes.Length, flags));
        }
    }

    public static unsafe string? GetXattr(string path, string name, out Errno errno)
    {
        var buffer = new byte[4096];
        fixed (byte* p = buffer)
        {
            var n = getxattr(path, name, p, (nuint)buffer.Length);
            errno = n < 0 ? LastErrno : Errno.OK;
            return n < 0 ? null : Encoding.UTF8.GetString(buffer, 0, (int)n);
        }
    }

    public static unsafe string[] ListXattr(string path, out Errno errno)
    {
        var buffer = new byte[65536];
        fixed (byte* p = buffer)
        {
            var n = listxattr(path, p, (nuint)buffer.Length);
            errno = n < 0 ? LastErrno : Errno.OK;
            return n <= 0 ? [] : Encoding.UTF8.GetString(buffer, 0, (int)n).Split('\0', StringSplitOptions.RemoveEmptyEntries);
        }
    }

    public static Errno RemoveXattr(string path, string name) => Check(removexattr(path, name));

    /// <summary>d_name of a struct dirent (glibc x86_64/aarch64: ino 8, off 8, reclen 2, type 1, then the name).</summary>
    public static string DirentName(nint dirent) => Marshal.PtrToStringUTF8(dirent + 19)!;

    /// <summary>Runs a program to completion; returns its exit code and what it wrote to stderr.</summary>
    public static (int ExitCode, string Error) Run(string program, params string[] arguments)
    {
        var start = new ProcessStartInfo(program) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        using var process = Process.Start(start)!;
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEnd();
        output.Wait();
        process.WaitForExit();
        return (process.ExitCode, error);
    }

    /// <summary>Mounts whose mount point is <paramref name="path"/> or below it, from /proc/self/mountinfo.</summary>
    public static List<(string MountPoint, string FsType)> MountsAt(string path, bool below = false)
    {
        var result = new List<(string, string)>();
        foreach (var line in File.ReadAllLines("/proc/self/mountinfo"))
        {
            var fields = line.Split(' ');
            var mountPoint = fields[4].Replace("\\040", " ", StringComparison.Ordinal);
            var separator = Array.IndexOf(fields, "-");
            var fsType = separator > 0 ? fields[separator + 1] : "";
            if (mountPoint == path || (below && mountPoint.StartsWith(path.TrimEnd('/') + "/", StringComparison.Ordinal)))
            {
                result.Add((mountPoint, fsType));
            }
        }

        return result;
    }

    /// <summary>Waits until a FUSE mount of ours sits at <paramref name="path"/>.</summary>
    public static async Task WaitForMountAsync(string path, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (!MountsAt(path).Exists(m => m.FsType == "fuse.spectrum"))
        {
            Assert.True(DateTime.UtcNow < deadline, $"no view mounted at {path}");
            await Task.Delay(20);
        }
    }

    [LibraryImport("libc", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int open(string path, int flags, uint mode);

    [LibraryImport("libc", SetLastError = true)]
    private static unsafe partial nint write(SafeFileHandle fd, byte* buffer, nuint count);

    [LibraryImport("libc", SetLastError = true)]
    private static unsafe partial nint pread(SafeFileHandle fd, byte* buffer, nuint count, long offset);

    [LibraryImport("libc", SetLastError = true)]
    private static partial long lseek(SafeFileHandle fd, long offset, int whence);

    [LibraryImport("libc", SetLastError = true)]
    public static partial int fsync(SafeFileHandle fd);

    [LibraryImport("libc", SetLastError = true)]
    private static unsafe partial int mincore(byte* address, nuint length, byte* vector);

    /// <summary>How many of the first <paramref name="length"/> bytes' pages of <paramref name="path"/> are in the page cache, seen through a fresh open and mmap (mincore).</summary>
    public static unsafe int ResidentPages(string path, int length)
    {
        using var map = MemoryMappedFile.CreateFromFile(path, FileMode.Open, null, 0, MemoryMappedFileAccess.Read);
        using var accessor = map.CreateViewAccessor(0, length, MemoryMappedFileAccess.Read);
        var pages = (length + Environment.SystemPageSize - 1) / Environment.SystemPageSize;
        var vector = new byte[pages];
        byte* start = null;
        accessor.SafeMemoryMappedViewHandle.AcquirePointer(ref start);
        try
        {
            fixed (byte* v = vector)
            {
                if (mincore(start + accessor.PointerOffset, (nuint)length, v) != 0)
                {
                    throw new InvalidOperationException($"mincore: {LastErrno}");
                }
            }
        }
        finally
        {
            accessor.SafeMemoryMappedViewHandle.ReleasePointer();
        }

        return vector.Count(static b => (b & 1) != 0);
    }

    [LibraryImport("libc", SetLastError = true)]
    public static partial int ftruncate(SafeFileHandle fd, long length);

    [LibraryImport("libc", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int truncate(string path, long length);

    [LibraryImport("libc", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int rename(string oldPath, string newPath);

    [LibraryImport("libc", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int renameat2(int oldDir, string oldPath, int newDir, string newPath, uint flags);

    [LibraryImport("libc", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int chown(string path, uint uid, uint gid);

    [LibraryImport("libc", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int unlink(string path);

    [LibraryImport("libc", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int mkdir(string path, uint mode);

    [LibraryImport("libc", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int chmod(string path, uint mode);

    [LibraryImport("libc", SetLastError = true)]
    private static unsafe partial int fcntl(SafeFileHandle fd, int command, Flock* lk);

    [LibraryImport("libc", SetLastError = true)]
    private static partial int flock(SafeFileHandle fd, int operation);

    [LibraryImport("libc", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static unsafe partial int statx(int dirfd, string path, int flags, uint mask, Statx* buffer);

    [LibraryImport("libc", EntryPoint = "statx", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static unsafe partial int statx_fd(SafeFileHandle dirfd, string path, int flags, uint mask, Statx* buffer);

    [LibraryImport("libc", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static unsafe partial int statfs(string path, Statfs* buffer);

    [LibraryImport("libc", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static unsafe partial int utimensat(int dirfd, string path, Timespec* times, int flags);

    [LibraryImport("libc", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static unsafe partial int setxattr(string path, string name, byte* value, nuint size, int flags);

    [LibraryImport("libc", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static unsafe partial nint getxattr(string path, string name, byte* value, nuint size);

    [LibraryImport("libc", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static unsafe partial nint listxattr(string path, byte* list, nuint size);

    [LibraryImport("libc", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int removexattr(string path, string name);

    [LibraryImport("libc", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial nint opendir(string path);

    [LibraryImport("libc", SetLastError = true)]
    public static partial nint readdir(nint dir);

    [LibraryImport("libc", SetLastError = true)]
    public static partial long telldir(nint dir);

    [LibraryImport("libc")]
    public static partial void seekdir(nint dir, long position);

    [LibraryImport("libc", SetLastError = true)]
    public static partial int closedir(nint dir);
}
