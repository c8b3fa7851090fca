using System.Globalization;
using System.Reflection;
using System.Runtime.InteropServices;
using System.Text;

namespace Spectrum.Interop.Tests;

/// <summary>
/// Compiles a C program against the system headers that prints sizeof/offsetof/constant values, once
/// per run, so every struct and flag the wrappers mirror is checked against the C definition.
/// </summary>
public static class CHeaders
{
    private static readonly Lazy<IReadOnlyDictionary<string, long>> s_values = new(Compile);

    public static long Value(string key) =>
        s_values.Value.TryGetValue(key, out var v) ? v : throw new KeyNotFoundException($"the C program printed no '{key}'");

    // (C struct, C field, C# type, C# field)
    internal static readonly (string Struct, string Field, Type Type, string Managed)[] Fields =
    [
        ("struct statx", "stx_mask", typeof(StatxResult), "_mask"),
        ("struct statx", "stx_blksize", typeof(StatxResult), "_blksize"),
        ("struct statx", "stx_attributes", typeof(StatxResult), "_attributes"),
        ("struct statx", "stx_nlink", typeof(StatxResult), "_nlink"),
        ("struct statx", "stx_uid", typeof(StatxResult), "_uid"),
        ("struct statx", "stx_gid", typeof(StatxResult), "_gid"),
        ("struct statx", "stx_mode", typeof(StatxResult), "_mode"),
        ("struct statx", "stx_ino", typeof(StatxResult), "_ino"),
        ("struct statx", "stx_size", typeof(StatxResult), "_size"),
        ("struct statx", "stx_blocks", typeof(StatxResult), "_blocks"),
        ("struct statx", "stx_attributes_mask", typeof(StatxResult), "_attributesMask"),
        ("struct statx", "stx_atime.tv_sec", typeof(StatxResult), "_atimeSec"),
        ("struct statx", "stx_atime.tv_nsec", typeof(StatxResult), "_atimeNsec"),
        ("struct statx", "stx_btime.tv_sec", typeof(StatxResult), "_btimeSec"),
        ("struct statx", "stx_btime.tv_nsec", typeof(StatxResult), "_btimeNsec"),
        ("struct statx", "stx_ctime.tv_sec", typeof(StatxResult), "_ctimeSec"),
        ("struct statx", "stx_ctime.tv_nsec", typeof(StatxResult), "_ctimeNsec"),
        ("struct statx", "stx_mtime.tv_sec", typeof(StatxResult), "_mtimeSec"),
        ("struct statx", "stx_mtime.tv_nsec", typeof(StatxResult), "_mtimeNsec"),
        ("struct statx", "stx_rdev_major", typeof(StatxResult), "_rdevMajor"),
        ("struct statx", "stx_rdev_minor", typeof(StatxResult), "_rdevMinor"),
        ("struct statx", "stx_dev_major", typeof(StatxResult), "_devMajor"),
        ("struct statx", "stx_dev_minor", typeof(StatxResult), "_devMinor"),
        ("struct statx", "stx_mnt_id", typeof(StatxResult), "_mntId"),
        ("struct flock", "l_type", typeof(LockRecord), "_type"),
        ("struct flock", "l_whence", typeof(LockRecord), "_whence"),
        ("struct flock", "l_start", typeof(LockRecord), "_start"),
        ("struct flock", "l_len", typeof(LockRecord), "_len"),
        ("struct flock", "l_pid", typeof(LockRecord), "_pid"),
        ("struct statfs", "f_type", typeof(StatfsResult), "_type"),
        ("struct statfs", "f_bsize", typeof(StatfsResult), "_bsize"),
        ("struct statfs", "f_blocks", typeof(StatfsResult), "_blocks"),
        ("struct statfs", "f_bfree", typeof(StatfsResult), "_bfree"),
        ("struct statfs", "f_bavail", typeof(StatfsResult), "_bavail"),
        ("struct statfs", "f_files", typeof(StatfsResult), "_files"),
        ("struct statfs", "f_ffree", typeof(StatfsResult), "_ffree"),
        ("struct statfs", "f_fsid", typeof(StatfsResult), "_fsid0"),
        ("struct statfs", "f_namelen", typeof(StatfsResult), "_namelen"),
        ("struct statfs", "f_frsize", typeof(StatfsResult), "_frsize"),
        ("struct statfs", "f_flags", typeof(StatfsResult), "_flags"),
        ("struct timespec", "tv_sec", typeof(PosixTime), "_sec"),
        ("struct timespec", "tv_nsec", typeof(PosixTime), "_nsec"),
    ];

    internal static readonly Dictionary<Type, string> Structs = new()
    {
        [typeof(StatxResult)] = "struct statx",
        [typeof(LockRecord)] = "struct flock",
        [typeof(StatfsResult)] = "struct statfs",
        [typeof(PosixTime)] = "struct timespec",
    };

    // Constants printed by name; the tests compare them with the managed values.
    internal static readonly string[] Constants =
    [
        "O_RDONLY", "O_WRONLY", "O_RDWR", "O_ACCMODE", "O_CREAT", "O_EXCL", "O_NOCTTY", "O_TRUNC", "O_APPEND",
        "O_NONBLOCK", "O_DSYNC", "O_DIRECT", "O_LARGEFILE", "O_DIRECTORY", "O_NOFOLLOW", "O_NOATIME", "O_CLOEXEC",
        "O_SYNC", "O_PATH", "O_TMPFILE",
        "RESOLVE_NO_XDEV", "RESOLVE_NO_MAGICLINKS", "RESOLVE_NO_SYMLINKS", "RESOLVE_BENEATH", "RESOLVE_IN_ROOT", "RESOLVE_CACHED",
        "AT_FDCWD", "AT_SYMLINK_NOFOLLOW", "AT_REMOVEDIR", "AT_SYMLINK_FOLLOW", "AT_EMPTY_PATH",
        "RENAME_NOREPLACE", "RENAME_EXCHANGE", "RENAME_WHITEOUT",
        "SEEK_SET", "SEEK_CUR", "SEEK_END", "SEEK_DATA", "SEEK_HOLE",
        "FALLOC_FL_KEEP_SIZE", "FALLOC_FL_PUNCH_HOLE", "FALLOC_FL_COLLAPSE_RANGE", "FALLOC_FL_ZERO_RANGE",
        "FALLOC_FL_INSERT_RANGE", "FALLOC_FL_UNSHARE_RANGE",
        "F_OFD_GETLK", "F_OFD_SETLK", "F_OFD_SETLKW", "F_RDLCK", "F_WRLCK", "F_UNLCK",
        "LOCK_SH", "LOCK_EX", "LOCK_NB", "LOCK_UN",
        "XATTR_CREATE", "XATTR_REPLACE",
        "UTIME_NOW", "UTIME_OMIT",
        "DT_UNKNOWN", "DT_FIFO", "DT_CHR", "DT_DIR", "DT_BLK", "DT_REG", "DT_LNK", "DT_SOCK", "DT_WHT",
        "NAME_MAX", "PATH_MAX",
        "SYS_openat2", "SYS_fchmodat2", "MAKEDEV_TEST",
    ];

    private static IReadOnlyDictionary<string, long> Compile()
    {
        var c = new StringBuilder();
        c.AppendLine("""
            #define _GNU_SOURCE
            #include <stdio.h>
            #include <stddef.h>
            #include <errno.h>
            #include <fcntl.h>
            #include <dirent.h>
            #include <limits.h>
            #include <unistd.h>
            #include <sys/stat.h>
            #include <sys/statfs.h>
            #include <sys/file.h>
            #include <sys/xattr.h>
            #include <sys/syscall.h>
            #include <linux/openat2.h>
            #include <linux/falloc.h>
            #include <sys/sysmacros.h>
            #define MAKEDEV_TEST makedev(0x12345, 0x6789ab)
            #ifndef SYS_fchmodat2
            #define SYS_fchmodat2 452
            #endif
            #define P(k, v) printf("%s %lld\n", k, (long long)(v))
            #define F(s, f) do { P(#s "." #f ".offset", offsetof(s, f)); P(#s "." #f ".size", sizeof(((s *)0)->f)); } while (0)
            int main(void) {
            """);
        foreach (var s in Structs.Values.Append("struct dirent64").Append("struct open_how"))
        {
            c.AppendLine(CultureInfo.InvariantCulture, $"P(\"{s}.size\", sizeof({s}));");
        }

        foreach (var (s, f, _, _) in Fields)
        {
            c.AppendLine(CultureInfo.InvariantCulture, $"F({s}, {f});");
        }

        foreach (var f in new[] { "d_ino", "d_off", "d_reclen", "d_type", "d_name" })
        {
            c.AppendLine(CultureInfo.InvariantCulture, $"F(struct dirent64, {f});");
        }

        foreach (var k in Constants.Concat(Enum.GetNames<Errno>().Where(n => n != nameof(Errno.OK))))
        {
            c.AppendLine(CultureInfo.InvariantCulture, $"P(\"{k}\", {k});");
        }

        c.AppendLine("return 0; }");

        var dir = Directory.CreateTempSubdirectory("spectrum-cheaders-").FullName;
        try
        {
            var source = Path.Combine(dir, "layout.c");
            var exe = Path.Combine(dir, "layout");
            File.WriteAllText(source, c.ToString());
            var (exit, output) = T.Run("gcc", "-std=gnu11", "-Wall", "-o", exe, source);
            Assert.True(exit == 0, "gcc failed:\n" + output);
            (exit, output) = T.Run(exe);
            Assert.True(exit == 0, output);
            return output.Split('\n', StringSplitOptions.RemoveEmptyEntries)
                .ToDictionary(l => l[..l.LastIndexOf(' ')], l => long.Parse(l[(l.LastIndexOf(' ') + 1)..], CultureInfo.InvariantCulture));
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }
}

public class LayoutTests
{
    public static TheoryData<string, string> FieldCases()
    {
        var data = new TheoryData<string, string>();
        foreach (var (s, f, _, _) in CHeaders.Fields)
        {
            data.Add(s, f);
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(FieldCases))]
    public void StructField_MatchesCHeaderOffsetAndSize(string cStruct, string cField)
    {
        var (_, _, type, managed) = CHeaders.Fields.Single(x => x.Struct == cStruct && x.Field == cField);
        var field = type.GetField(managed, BindingFlags.Instance | BindingFlags.NonPublic)!;
        Assert.NotNull(field);
        Assert.Equal(CHeaders.Value($"{cStruct}.{cField}.offset"), Marshal.OffsetOf(type, managed).ToInt64());
        var size = CHeaders.Value($"{cStruct}.{cField}.size");
        var managedSize = field.FieldType.IsEnum ? Marshal.SizeOf(Enum.GetUnderlyingType(field.FieldType)) : Marshal.SizeOf(field.FieldType);
        // f_fsid is two ints in C (one 8-byte struct); the managed side splits it in two 4-byte halves.
        Assert.Equal(size, cField == "f_fsid" ? managedSize * 2 : managedSize);
    }

    [Fact]
    public void StructSizes_MatchCHeaders()
    {
        foreach (var (type, cStruct) in CHeaders.Structs)
        {
            Assert.True(CHeaders.Value($"{cStruct}.size") == Marshal.SizeOf(type), $"{type.Name} vs sizeof({cStruct})");
        }

        Assert.Equal(CHeaders.Value("struct open_how.size"), Marshal.SizeOf<Libc.OpenHow>());
    }

    [Fact]
    public void DirentReaderOffsets_MatchDirent64()
    {
        Assert.Equal(DirentReader.InoOffset, CHeaders.Value("struct dirent64.d_ino.offset"));
        Assert.Equal(DirentReader.OffOffset, CHeaders.Value("struct dirent64.d_off.offset"));
        Assert.Equal(DirentReader.ReclenOffset, CHeaders.Value("struct dirent64.d_reclen.offset"));
        Assert.Equal(DirentReader.TypeOffset, CHeaders.Value("struct dirent64.d_type.offset"));
        Assert.Equal(DirentReader.NameOffset, CHeaders.Value("struct dirent64.d_name.offset"));
        Assert.Equal(8, CHeaders.Value("struct dirent64.d_ino.size"));
        Assert.Equal(2, CHeaders.Value("struct dirent64.d_reclen.size"));
    }

    [Fact]
    public void EveryErrno_MatchesErrnoH()
    {
        foreach (var name in Enum.GetNames<Errno>().Where(n => n != nameof(Errno.OK)))
        {
            Assert.True(CHeaders.Value(name) == (long)Enum.Parse<Errno>(name), $"Errno.{name}");
        }
    }

    [Fact]
    public void ErrnoAliases_PrintAsTheirLinuxNames()
    {
        // ENOTSUP and EWOULDBLOCK share values; ToString (logs, SysCallException) must keep the primary names.
        Assert.Equal("EOPNOTSUPP", Errno.EOPNOTSUPP.ToString());
        Assert.Equal("EAGAIN", Errno.EAGAIN.ToString());
        Assert.Equal("EAGAIN", ErrnoAliases.EWOULDBLOCK.ToString());
        Assert.Equal(Errno.EOPNOTSUPP, ErrnoAliases.ENOTSUP);
    }

    [Fact]
    public void FlagValues_MatchCHeaders()
    {
        var expected = new (string C, long Managed)[]
        {
            ("O_RDONLY", (long)OpenFlags.ReadOnly), ("O_WRONLY", (long)OpenFlags.WriteOnly), ("O_RDWR", (long)OpenFlags.ReadWrite),
            ("O_ACCMODE", (long)OpenFlags.AccessModeMask), ("O_CREAT", (long)OpenFlags.Create), ("O_EXCL", (long)OpenFlags.Exclusive),
            ("O_NOCTTY", (long)OpenFlags.NoControllingTerminal), ("O_TRUNC", (long)OpenFlags.Truncate), ("O_APPEND", (long)OpenFlags.Append),
            ("O_NONBLOCK", (long)OpenFlags.NonBlock), ("O_DSYNC", (long)OpenFlags.DataSync), ("O_DIRECT", (long)OpenFlags.Direct),
            // glibc defines O_LARGEFILE as 0 on 64-bit; the kernel's value is 0x8000.
            ("O_DIRECTORY", (long)OpenFlags.Directory), ("O_NOFOLLOW", (long)OpenFlags.NoFollow),
            ("O_NOATIME", (long)OpenFlags.NoAccessTime), ("O_CLOEXEC", (long)OpenFlags.CloseOnExec), ("O_SYNC", (long)OpenFlags.Sync),
            ("O_PATH", (long)OpenFlags.Path), ("O_TMPFILE", (long)OpenFlags.TmpFile),
            ("RESOLVE_NO_XDEV", (long)ResolveFlags.NoXdev), ("RESOLVE_NO_MAGICLINKS", (long)ResolveFlags.NoMagicLinks),
            ("RESOLVE_NO_SYMLINKS", (long)ResolveFlags.NoSymlinks), ("RESOLVE_BENEATH", (long)ResolveFlags.Beneath),
            ("RESOLVE_IN_ROOT", (long)ResolveFlags.InRoot), ("RESOLVE_CACHED", (long)ResolveFlags.Cached),
            ("AT_FDCWD", Posix.AT_FDCWD), ("AT_SYMLINK_NOFOLLOW", Posix.AT_SYMLINK_NOFOLLOW), ("AT_REMOVEDIR", Posix.AT_REMOVEDIR),
            ("AT_SYMLINK_FOLLOW", Posix.AT_SYMLINK_FOLLOW), ("AT_EMPTY_PATH", Posix.AT_EMPTY_PATH),
            ("RENAME_NOREPLACE", (long)RenameFlags.NoReplace), ("RENAME_EXCHANGE", (long)RenameFlags.Exchange),
            ("RENAME_WHITEOUT", (long)RenameFlags.Whiteout),
            ("SEEK_SET", (long)SeekWhence.Set), ("SEEK_CUR", (long)SeekWhence.Current), ("SEEK_END", (long)SeekWhence.End),
            ("SEEK_DATA", (long)SeekWhence.Data), ("SEEK_HOLE", (long)SeekWhence.Hole),
            ("FALLOC_FL_KEEP_SIZE", (long)FallocateMode.KeepSize), ("FALLOC_FL_PUNCH_HOLE", (long)FallocateMode.PunchHole),
            ("FALLOC_FL_COLLAPSE_RANGE", (long)FallocateMode.CollapseRange), ("FALLOC_FL_ZERO_RANGE", (long)FallocateMode.ZeroRange),
            ("FALLOC_FL_INSERT_RANGE", (long)FallocateMode.InsertRange), ("FALLOC_FL_UNSHARE_RANGE", (long)FallocateMode.UnshareRange),
            ("F_RDLCK", (long)LockType.Read), ("F_WRLCK", (long)LockType.Write), ("F_UNLCK", (long)LockType.Unlock),
            ("LOCK_SH", (long)FlockOperation.Shared), ("LOCK_EX", (long)FlockOperation.Exclusive),
            ("LOCK_NB", (long)FlockOperation.NonBlocking), ("LOCK_UN", (long)FlockOperation.Unlock),
            ("XATTR_CREATE", (long)XattrFlags.Create), ("XATTR_REPLACE", (long)XattrFlags.Replace),
            ("UTIME_NOW", PosixTime.Now.Nanoseconds), ("UTIME_OMIT", PosixTime.Omit.Nanoseconds),
            ("DT_UNKNOWN", (long)DirentType.Unknown), ("DT_FIFO", (long)DirentType.Fifo), ("DT_CHR", (long)DirentType.CharDevice),
            ("DT_DIR", (long)DirentType.Directory), ("DT_BLK", (long)DirentType.BlockDevice), ("DT_REG", (long)DirentType.Regular),
            ("DT_LNK", (long)DirentType.Symlink), ("DT_SOCK", (long)DirentType.Socket), ("DT_WHT", (long)DirentType.Whiteout),
            ("NAME_MAX", Posix.NameMax), ("PATH_MAX", Posix.PathMax),
            ("SYS_openat2", 437), ("SYS_fchmodat2", 452),
        };
        foreach (var (c, managed) in expected)
        {
            Assert.True(CHeaders.Value(c) == managed, $"{c}: C {CHeaders.Value(c)}, managed {managed}");
        }
    }

    [Fact]
    public void OfdLockCommands_MatchCHeaders()
    {
        // Private constants: checked through the values the wrappers send (36, 37, 38 on every Linux ABI).
        Assert.Equal(36, CHeaders.Value("F_OFD_GETLK"));
        Assert.Equal(37, CHeaders.Value("F_OFD_SETLK"));
        Assert.Equal(38, CHeaders.Value("F_OFD_SETLKW"));
    }
}
