using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;
using Spectrum.Interop;

namespace Spectrum.FuseFs.Tests;

/// <summary>The libc calls the tests' passthrough filesystem and the syscall-level checks use.</summary>
internal static partial class Native
{
    public const int O_RDONLY = 0;
    public const int O_WRONLY = 1;
    public const int O_RDWR = 2;
    public const int O_ACCMODE = 3;
    public const int O_CREAT = 0x40;
    public const int O_EXCL = 0x80;
    public const int O_TRUNC = 0x200;
    public const int O_APPEND = 0x400;
    public const int O_NOFOLLOW = 0x20000;
    public const int O_CLOEXEC = 0x80000;
    public const int AT_FDCWD = -100;
    public const int AT_SYMLINK_NOFOLLOW = 0x100;

    [StructLayout(LayoutKind.Sequential)]
    public struct StatxTimestamp
    {
        public long Sec;
        public uint Nsec;
        public int Reserved;
    }

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
        public uint RdevMajor;
        public uint RdevMinor;
        public uint DevMajor;
        public uint DevMinor;
    }

    [StructLayout(LayoutKind.Sequential)]
    public struct StatVfs
    {
        public ulong Bsize;
        public ulong Frsize;
        public ulong Blocks;
        public ulong Bfree;
        public ulong Bavail;
        public ulong Files;
        public ulong Ffree;
        public ulong Favail;
        public ulong Fsid;
        public ulong Flag;
        public ulong Namemax;
        public int Spare0;
        public int Spare1;
        public int Spare2;
        public int Spare3;
        public int Spare4;
        public int Spare5;
    }

    public static Errno LastErrno => (Errno)Marshal.GetLastPInvokeError();

    public static Errno Check(int rc) => rc == 0 ? Errno.OK : LastErrno;

    public static unsafe Errno Lstat(string path, out Statx stat)
    {
        Statx buffer;
        var rc = statx(AT_FDCWD, path, AT_SYMLINK_NOFOLLOW, 0xFFF, &buffer);
        stat = buffer;
        return Check(rc);
    }

    public static FuseAttr ToAttr(in Statx s) => new()
    {
        Ino = s.Ino,
        Size = s.Size,
        Blocks = s.Blocks,
        Atime = (ulong)s.Atime.Sec,
        AtimeNsec = s.Atime.Nsec,
        Mtime = (ulong)s.Mtime.Sec,
        MtimeNsec = s.Mtime.Nsec,
        Ctime = (ulong)s.Ctime.Sec,
        CtimeNsec = s.Ctime.Nsec,
        Mode = s.Mode,
        Nlink = s.Nlink,
        Uid = s.Uid,
        Gid = s.Gid,
        Blksize = s.Blksize,
    };

    public static SafeFileHandle? Open(string path, int flags, uint mode, out Errno errno)
    {
        var fd = open(path, flags | O_CLOEXEC, mode);
        errno = fd >= 0 ? Errno.OK : LastErrno;
        return fd >= 0 ? new SafeFileHandle(fd, ownsHandle: true) : null;
    }

    [LibraryImport("libc", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static unsafe partial int statx(int dirfd, string path, int flags, uint mask, Statx* buffer);

    [LibraryImport("libc", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int open(string path, int flags, uint mode);

    [LibraryImport("libc", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int mkdir(string path, uint mode);

    [LibraryImport("libc", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int unlink(string path);

    [LibraryImport("libc", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int rmdir(string path);

    [LibraryImport("libc", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int renameat2(int olddirfd, string oldpath, int newdirfd, string newpath, uint flags);

    [LibraryImport("libc", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int symlink(string target, string path);

    [LibraryImport("libc", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static unsafe partial nint readlink(string path, byte* buffer, nuint size);

    [LibraryImport("libc", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int link(string oldpath, string newpath);

    [LibraryImport("libc", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int chmod(string path, uint mode);

    [LibraryImport("libc", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int truncate(string path, long length);

    [LibraryImport("libc", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int access(string path, int mode);

    [LibraryImport("libc", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static unsafe partial int statvfs(string path, StatVfs* buffer);

    [LibraryImport("libc", SetLastError = true)]
    public static partial int fsync(SafeFileHandle fd);

    [LibraryImport("libc", SetLastError = true)]
    public static partial int ftruncate(SafeFileHandle fd, long length);

    [LibraryImport("libc", SetLastError = true)]
    public static partial long lseek(SafeFileHandle fd, long offset, int whence);

    [LibraryImport("libc", SetLastError = true)]
    public static partial int fallocate(SafeFileHandle fd, int mode, long offset, long length);

    [LibraryImport("libc", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial nint opendir(string path);

    [LibraryImport("libc", SetLastError = true)]
    public static partial nint readdir(nint dir);

    [LibraryImport("libc", SetLastError = true)]
    public static partial long telldir(nint dir);

    [LibraryImport("libc", SetLastError = true)]
    public static partial void seekdir(nint dir, long position);

    [LibraryImport("libc", SetLastError = true)]
    public static partial int closedir(nint dir);

    /// <summary>d_name of a struct dirent (glibc x86_64/aarch64: ino 8, off 8, reclen 2, type 1, then the name).</summary>
    public static unsafe string DirentName(nint dirent) => Marshal.PtrToStringUTF8(dirent + 19)!;
}
