using System.IO.MemoryMappedFiles;
using System.Text;
using Microsoft.Data.Sqlite;
using Spectrum.Interop;
using static Spectrum.Broker.Tests.Views.ViewPosixNative;

namespace Spectrum.Broker.Tests.Views;

/// <summary>
/// One real daemon for the POSIX-behaviour tests: VM "editor" holds a read-write grant on the
/// directory <c>Scratch</c>, declared by policy, and its view is mounted by the broker as root.
/// </summary>
public sealed class ViewPosixFixture : IAsyncLifetime
{
    public TestDirs Dirs { get; } = new();

    public BrokerProcess Broker { get; private set; } = null!;

    public string View(string vm) => Path.Combine(Dirs.Run, "vm", vm, "view");

    public async Task InitializeAsync()
    {
        Directory.CreateDirectory(Path.Combine(Dirs.Tree, "Scratch"));
        Dirs.Policy("editor", "[[grant]]\npath = \"Scratch\"\nrights = \"rw\"\n");
        Dirs.Policy("author", "[[grant]]\npath = \"Documents/Work/notes.txt\"\nrights = \"rw\"\n");
        Broker = await BrokerProcess.StartAsync(Dirs);
        await WaitForMountAsync(View("editor"), TimeSpan.FromSeconds(10));
    }

    public async Task DisposeAsync()
    {
        try
        {
            await Broker.StopAsync();
        }
        finally
        {
            await Broker.DisposeAsync();
            Dirs.Dispose();
        }
    }
}

/// <summary>
/// What real applications do, with real system calls from this process on the real mount, inside
/// a fully granted read-write directory: atomic saves, open flags, sparse files, mmap, locks, big
/// directories with seek offsets, long names, unlink while open, attributes, xattrs, statfs, and
/// an SQLite database in WAL mode.
/// </summary>
public sealed class ViewPosixTests(ViewPosixFixture fixture) : IClassFixture<ViewPosixFixture>
{
    /// <summary>Longer than the view's entry and attribute cache time (1 s).</summary>
    private static readonly TimeSpan CacheWindow = TimeSpan.FromSeconds(3);

    private TestDirs Dirs => fixture.Dirs;

    /// <summary>A fresh directory for one test, made through the view: (view path, host path).</summary>
    private (string View, string Host) NewDir(string name)
    {
        var view = Path.Combine(fixture.View("editor"), "Scratch", name);
        Assert.Equal(Errno.OK, Check(mkdir(view, 0x1ED)));
        return (view, Path.Combine(Dirs.Tree, "Scratch", name));
    }

    [Fact]
    public void AtomicSave_RenameOverAFileInADirectoryGrant_ShowsTheNewContentAndOpenFilesKeepTheOld()
    {
        var (view, host) = NewDir("atomic");
        var doc = Path.Combine(view, "doc.odt");
        File.WriteAllText(doc, "v1");
        using var old = OpenOrFail(doc, O_RDONLY);

        for (var version = 2; version <= 3; version++)
        {
            // What an editor does: write a temporary, fsync it, rename it over the document.
            var temp = Path.Combine(view, $".~doc.odt.{version}.tmp");
            using (var t = OpenOrFail(temp, O_WRONLY | O_CREAT | O_EXCL))
            {
                Assert.Equal(Errno.OK, Write(t, $"v{version}", out _));
                Assert.Equal(Errno.OK, Check(fsync(t)));
            }

            Assert.Equal(Errno.OK, Check(rename(temp, doc)));

            Assert.Equal($"v{version}", File.ReadAllText(doc));
            Assert.Equal($"v{version}", File.ReadAllText(Path.Combine(host, "doc.odt")));
            Assert.False(File.Exists(temp));
            Assert.Equal(["doc.odt"], Directory.GetFileSystemEntries(view).Select(Path.GetFileName));
        }

        // The replaced file lives on for whoever had it open.
        Assert.Equal("v1", PRead(old, 16, 0, out var e));
        Assert.Equal(Errno.OK, e);
    }

    [Theory]
    [InlineData("api", "writer", "Documents/report.odt", "report\n")]
    [InlineData("policy", "author", "Documents/Work/notes.txt", "notes\n")]
    public async Task AtomicSave_HostRenamesOverAGrantedFile_TheFileGrantKeepsWorking(string source, string vm, string relative, string original)
    {
        var client = fixture.Broker.Client;
        var granted = source == "api"
            ? (await client.GrantAsync(vm, relative, "rw")).Grant
            : Assert.Single(await client.ListAsync(vm));
        Assert.Equal(("file", relative), (granted.Kind, granted.Path));
        var viewRoot = fixture.View(vm);
        await WaitForMountAsync(viewRoot, TimeSpan.FromSeconds(10));
        var doc = Path.Combine(viewRoot, relative);
        var host = Path.Combine(Dirs.Tree, relative);
        Assert.Equal(original, File.ReadAllText(doc));

        for (var save = 1; save <= 2; save++)
        {
            // An editor on the host saves atomically: the granted name now is another inode.
            var temp = host + ".tmp";
            await using (var t = new FileStream(temp, FileMode.CreateNew, FileAccess.Write))
            {
                await t.WriteAsync(Encoding.UTF8.GetBytes($"saved on the host {save}\n"));
                t.Flush(flushToDisk: true);
            }

            Assert.Equal(Errno.OK, Check(rename(temp, host)));

            // The kernel may serve its cached entry for the entry timeout; after it, the new file.
            var deadline = DateTime.UtcNow + CacheWindow;
            string seen;
            while ((seen = File.ReadAllText(doc)) != $"saved on the host {save}\n" && DateTime.UtcNow < deadline)
            {
                await Task.Delay(100);
            }

            Assert.Equal($"saved on the host {save}\n", seen);
        }

        // Writes through the view reach the new file, the grant is not stale, and nothing else shows.
        File.WriteAllText(doc, "edited in the guest\n");
        Assert.Equal("edited in the guest\n", File.ReadAllText(host));
        Assert.Equal("active", (await client.ShowAsync(granted.Id)).State);
        Assert.Equal([Path.GetFileName(relative)], Directory.GetFileSystemEntries(Path.GetDirectoryName(doc)!).Select(Path.GetFileName));
    }

    [Fact]
    public void OTrunc_EmptiesTheFileOnOpen()
    {
        var (view, host) = NewDir("trunc");
        var file = Path.Combine(view, "f.txt");
        File.WriteAllText(file, "hello, world");

        using (var fd = OpenOrFail(file, O_WRONLY | O_TRUNC))
        {
            Assert.Equal(Errno.OK, Fstat(fd, out var st));
            Assert.Equal(0ul, st.Size);
            Assert.Equal(Errno.OK, Write(fd, "x", out _));
        }

        Assert.Equal("x", File.ReadAllText(file));
        Assert.Equal("x", File.ReadAllText(Path.Combine(host, "f.txt")));
    }

    [Fact]
    public void OCreat_OnAnExistingFileTheKernelBelievesAbsent_OpensItAndLeavesItsOwnerAndModeAlone()
    {
        var (view, host) = NewDir("creat");
        // The kernel believes the names absent (fresh negative entries) when the host makes
        // them: open(O_CREAT) then reaches the view as CREATE on an existing file, not as OPEN.
        Assert.False(File.Exists(Path.Combine(view, "existing.txt")));
        Assert.False(File.Exists(Path.Combine(view, "truncated.txt")));
        var hostFile = Path.Combine(host, "existing.txt");
        File.WriteAllText(hostFile, "kept");
        Assert.Equal(Errno.OK, Check(chmod(hostFile, 0x1A0 /* 0640 */)));
        Assert.Equal(Errno.OK, Check(chown(hostFile, 12345, 23456)));

        using (var fd = OpenOrFail(Path.Combine(view, "existing.txt"), O_RDWR | O_CREAT, 0x1FF))
        {
            Assert.Equal("kept", PRead(fd, 16, 0, out _));
        }

        // open(O_CREAT) of an existing file changes nothing about it (POSIX).
        Assert.Equal(Errno.OK, Lstat(hostFile, out var st));
        Assert.Equal((12345u, 23456u, 0x1A0u), (st.Uid, st.Gid, st.Mode & 0xFFFu));
        Assert.Equal("kept", File.ReadAllText(hostFile));

        // And with O_TRUNC it is emptied, still not re-owned.
        var second = Path.Combine(host, "truncated.txt");
        File.WriteAllText(second, "gone");
        Assert.Equal(Errno.OK, Check(chown(second, 12345, 23456)));
        using (var fd = OpenOrFail(Path.Combine(view, "truncated.txt"), O_WRONLY | O_CREAT | O_TRUNC, 0x1FF))
        {
            Assert.Equal(Errno.OK, Fstat(fd, out var opened));
            Assert.Equal(0ul, opened.Size);
        }

        Assert.Equal(Errno.OK, Lstat(second, out var truncated));
        Assert.Equal((0ul, 12345u), (truncated.Size, truncated.Uid));
    }

    [Fact]
    public void Rename2_NoReplaceAndExchange_BehaveAsOnTheHost()
    {
        var (view, host) = NewDir("rename2");
        var a = Path.Combine(view, "a.txt");
        var b = Path.Combine(view, "b.txt");
        File.WriteAllText(a, "A");
        File.WriteAllText(b, "B");

        Assert.Equal(Errno.EEXIST, Check(renameat2(AT_FDCWD, a, AT_FDCWD, b, RENAME_NOREPLACE)));
        Assert.Equal(("A", "B"), (File.ReadAllText(a), File.ReadAllText(b)));

        Assert.Equal(Errno.OK, Check(renameat2(AT_FDCWD, a, AT_FDCWD, b, RENAME_EXCHANGE)));
        Assert.Equal(("B", "A"), (File.ReadAllText(a), File.ReadAllText(b)));
        Assert.Equal(("B", "A"), (File.ReadAllText(Path.Combine(host, "a.txt")), File.ReadAllText(Path.Combine(host, "b.txt"))));

        Assert.Equal(Errno.OK, Check(renameat2(AT_FDCWD, a, AT_FDCWD, Path.Combine(view, "c.txt"), RENAME_NOREPLACE)));
        Assert.Equal(["b.txt", "c.txt"], Directory.GetFileSystemEntries(view).Select(Path.GetFileName).Order(StringComparer.Ordinal));
    }

    [Fact]
    public void LargeWritesAndReads_BeyondOneRequest_ArriveIntact()
    {
        var (view, host) = NewDir("large");
        var file = Path.Combine(view, "big.bin");
        var data = new byte[(5 << 20) + 12345];
        new Random(42).NextBytes(data);

        File.WriteAllBytes(file, data);

        Assert.Equal(data, File.ReadAllBytes(Path.Combine(host, "big.bin")));
        Assert.Equal(data, File.ReadAllBytes(file));
    }

    [Fact]
    public void OAppend_EveryWriteLandsAtTheEnd()
    {
        var (view, host) = NewDir("append");
        var file = Path.Combine(view, "log.txt");
        File.WriteAllText(file, "ab");

        using (var fd = OpenOrFail(file, O_WRONLY | O_APPEND))
        {
            Assert.Equal(0, Seek(fd, 0, SEEK_SET, out _));
            Assert.Equal(Errno.OK, Write(fd, "cd", out _));
            Assert.Equal(0, Seek(fd, 0, SEEK_SET, out _));
            Assert.Equal(Errno.OK, Write(fd, "ef", out _));

            // Another writer extends the file meanwhile: the next append still goes after it.
            using var other = OpenOrFail(file, O_WRONLY);
            Assert.Equal(6, Seek(other, 0, SEEK_END, out _));
            Assert.Equal(Errno.OK, Write(other, "gh", out _));
            Assert.Equal(Errno.OK, Write(fd, "ij", out _));
        }

        Assert.Equal("abcdefghij", File.ReadAllText(file));
        Assert.Equal("abcdefghij", File.ReadAllText(Path.Combine(host, "log.txt")));
    }

    [Fact]
    public async Task OExcl_OnAnExistingName_IsEexist()
    {
        var (view, host) = NewDir("excl");
        var file = Path.Combine(view, "lock");

        using (var first = Open(file, O_WRONLY | O_CREAT | O_EXCL, 0x1A4, out var e))
        {
            Assert.Equal(Errno.OK, e);
        }

        using (var second = Open(file, O_WRONLY | O_CREAT | O_EXCL, 0x1A4, out var e))
        {
            Assert.Equal(Errno.EEXIST, e);
        }

        // The kernel believes the name absent (a fresh negative entry), but the host has it:
        // the exclusive create must still fail, decided on the host.
        var late = Path.Combine(view, "late");
        Assert.False(File.Exists(late));
        await File.WriteAllTextAsync(Path.Combine(host, "late"), "host");
        using (var third = Open(late, O_WRONLY | O_CREAT | O_EXCL, 0x1A4, out var e))
        {
            Assert.Equal(Errno.EEXIST, e);
        }

        Assert.Equal("host", await File.ReadAllTextAsync(Path.Combine(host, "late")));
    }

    [Fact]
    public void SparseFile_SeekPastTheEndAndWrite_KeepsTheHoleVisibleThroughTheView()
    {
        var (view, host) = NewDir("sparse");
        var file = Path.Combine(view, "disk.img");
        const long Offset = 8L << 20;

        using (var fd = OpenOrFail(file, O_RDWR | O_CREAT | O_EXCL))
        {
            Assert.Equal(Offset, Seek(fd, Offset, SEEK_SET, out _));
            Assert.Equal(Errno.OK, Write(fd, "z", out _));
            Assert.Equal(Errno.OK, Fstat(fd, out var st));
            Assert.Equal((ulong)Offset + 1, st.Size);

            Assert.Equal(0, Seek(fd, 0, SEEK_HOLE, out var holeErrno));
            Assert.Equal(Errno.OK, holeErrno);
            var data = Seek(fd, 0, SEEK_DATA, out var dataErrno);
            Assert.Equal(Errno.OK, dataErrno);
            Assert.InRange(data, Offset - 65536, Offset);
            Assert.Equal(new string('\0', 4), PRead(fd, 4, 1 << 20, out _));
            Assert.Equal("z", PRead(fd, 8, Offset, out _));
            Assert.Equal(Offset + 1, Seek(fd, Offset, SEEK_HOLE, out _)); // the virtual hole at the end
            Assert.Equal(-1, Seek(fd, Offset + 1, SEEK_DATA, out var beyond));
            Assert.Equal(Errno.ENXIO, beyond);
        }

        Assert.Equal(Errno.OK, Lstat(file, out var viewStat));
        Assert.True(viewStat.Blocks * 512 < 1 << 20, $"{viewStat.Blocks} blocks: the hole was filled");
        Assert.Equal(Errno.OK, Lstat(Path.Combine(host, "disk.img"), out var hostStat));
        Assert.Equal(hostStat.Blocks, viewStat.Blocks);
    }

    [Fact]
    public void Mmap_ReadsAndWritesThroughTheView_ReachTheHostAfterFlush()
    {
        var (view, host) = NewDir("mmap");
        var file = Path.Combine(view, "mapped.bin");
        File.WriteAllBytes(file, Enumerable.Repeat((byte)'a', 16384).ToArray());

        using (var map = MemoryMappedFile.CreateFromFile(file, FileMode.Open, null, 0, MemoryMappedFileAccess.ReadWrite))
        using (var accessor = map.CreateViewAccessor(0, 16384, MemoryMappedFileAccess.ReadWrite))
        {
            Assert.Equal((byte)'a', accessor.ReadByte(0));
            Assert.Equal((byte)'a', accessor.ReadByte(16383));
            accessor.WriteArray(8192, "MMAP"u8.ToArray(), 0, 4);
            accessor.Write(16383, (byte)'Z');
            accessor.Flush();

            var seen = File.ReadAllBytes(Path.Combine(host, "mapped.bin"));
            Assert.Equal("MMAP", Encoding.ASCII.GetString(seen, 8192, 4));
            Assert.Equal((byte)'Z', seen[16383]);
            Assert.Equal((byte)'a', seen[0]);
        }

        // And a fresh read through the view agrees.
        var again = File.ReadAllBytes(file);
        Assert.Equal("MMAP", Encoding.ASCII.GetString(again, 8192, 4));
    }

    [Fact]
    public void PageCache_AnUnchangedFileKeepsItsCachedPagesAcrossOpens_AChangedOneDropsThem()
    {
        const int Size = 256 * 1024;
        var (view, host) = NewDir("keepcache");
        var file = Path.Combine(view, "cached.bin");
        File.WriteAllBytes(Path.Combine(host, "cached.bin"), Enumerable.Repeat((byte)'k', Size).ToArray());
        var pages = Size / Environment.SystemPageSize;

        Assert.Equal(Size, File.ReadAllBytes(file).Length); // an open, a read of every page, a close

        // Reopened unchanged: the kernel keeps the pages it has (FOPEN_KEEP_CACHE), no read goes to the broker.
        Assert.Equal(pages, ResidentPages(file, Size));

        // Changed on the host (here only its mode, so its ctime): the next open drops them.
        File.SetUnixFileMode(Path.Combine(host, "cached.bin"), UnixFileMode.UserRead | UnixFileMode.UserWrite);
        Assert.Equal(0, ResidentPages(file, Size));
    }

    [Fact]
    public void PageCache_AFileRewrittenOnTheHostAtTheSameSize_IsReadFreshAtTheNextOpen_WithinTheCacheTime()
    {
        var (view, host) = NewDir("fresh");
        var file = Path.Combine(view, "shared.txt");
        File.WriteAllText(Path.Combine(host, "shared.txt"), "written by the host, v1");
        Assert.Equal("written by the host, v1", File.ReadAllText(file)); // cached now

        // Another writer (a host process, another VM) rewrites it in place, same size, at once,
        // well within the view's 1 s attribute cache time: no stale page may be read.
        using (var w = new FileStream(Path.Combine(host, "shared.txt"), FileMode.Open, FileAccess.Write))
        {
            w.Write("WRITTEN BY THE HOST, v2"u8);
        }

        Assert.Equal("WRITTEN BY THE HOST, v2", File.ReadAllText(file));
    }

    [Fact]
    public void PosixLocks_AConflictingLockFromAnotherOpenFileDescription_IsRefused()
    {
        var (view, _) = NewDir("locks");
        var file = Path.Combine(view, "db.lock");
        File.WriteAllText(file, new string('-', 200));
        using var fd1 = OpenOrFail(file, O_RDWR);
        using var fd2 = OpenOrFail(file, O_RDWR);

        // A process-owned (classic) write lock through fd1 ...
        var write = new Flock { Type = F_WRLCK, Whence = SEEK_SET, Start = 0, Len = 100 };
        Assert.Equal(Errno.OK, Lock(fd1, F_SETLK, ref write));

        // ... conflicts with an open-file-description lock through the other description,
        var ofd = new Flock { Type = F_WRLCK, Whence = SEEK_SET, Start = 50, Len = 10 };
        Assert.Equal(Errno.EAGAIN, Lock(fd2, F_OFD_SETLK, ref ofd));
        var probe = new Flock { Type = F_WRLCK, Whence = SEEK_SET, Start = 0, Len = 0 };
        Assert.Equal(Errno.OK, Lock(fd2, F_OFD_GETLK, ref probe));
        Assert.Equal(F_WRLCK, probe.Type);
        Assert.Equal((0L, 100L), (probe.Start, probe.Len));

        // ... but not with a lock outside its range.
        var beside = new Flock { Type = F_WRLCK, Whence = SEEK_SET, Start = 100, Len = 10 };
        Assert.Equal(Errno.OK, Lock(fd2, F_OFD_SETLK, ref beside));

        // Open-file-description locks conflict with each other even within one process.
        var unlock = new Flock { Type = F_UNLCK, Whence = SEEK_SET, Start = 0, Len = 0 };
        Assert.Equal(Errno.OK, Lock(fd1, F_SETLK, ref unlock));
        Assert.Equal(Errno.OK, Lock(fd2, F_OFD_SETLK, ref ofd));
        var mine = new Flock { Type = F_RDLCK, Whence = SEEK_SET, Start = 55, Len = 1 };
        Assert.Equal(Errno.EAGAIN, Lock(fd1, F_OFD_SETLK, ref mine));

        // And another process is refused too (perl's fcntl F_SETLK: exit 3 means EAGAIN/EACCES).
        var other = Run("perl", "-e", "use Fcntl; open(my $f, '+<', $ARGV[0]) or exit 2; my $l = pack('s s x4 q q i x4', F_WRLCK, 0, 55, 1, 0); fcntl($f, F_SETLK, $l) and exit 0; exit(($!{EAGAIN} || $!{EACCES}) ? 3 : 4);", file);
        Assert.Equal(3, other.ExitCode);

        Assert.Equal(Errno.OK, Lock(fd2, F_OFD_SETLK, ref unlock));
        Assert.Equal(Errno.OK, Lock(fd1, F_OFD_SETLK, ref mine));
    }

    [Fact]
    public void Flock_AConflictingLockFromAnotherOpenFileDescription_IsRefused()
    {
        var (view, _) = NewDir("flock");
        var file = Path.Combine(view, ".~lock.doc.odt#");
        File.WriteAllText(file, "user\n");
        using var fd1 = OpenOrFail(file, O_RDWR);
        using var fd2 = OpenOrFail(file, O_RDONLY);

        Assert.Equal(Errno.OK, FlockFile(fd1, LOCK_EX | LOCK_NB));
        Assert.Equal(ErrnoAliases.EWOULDBLOCK, FlockFile(fd2, LOCK_EX | LOCK_NB));
        Assert.Equal(ErrnoAliases.EWOULDBLOCK, FlockFile(fd2, LOCK_SH | LOCK_NB));
        Assert.Equal(1, Run("flock", "--nonblock", "--shared", file, "true").ExitCode);

        Assert.Equal(Errno.OK, FlockFile(fd1, LOCK_UN));
        Assert.Equal(Errno.OK, FlockFile(fd2, LOCK_SH | LOCK_NB));
        Assert.Equal(0, Run("flock", "--nonblock", "--shared", file, "true").ExitCode);
        Assert.Equal(1, Run("flock", "--nonblock", "--exclusive", file, "true").ExitCode);
    }

    [Fact]
    public void Readdir_5000Entries_EachSeenOnceAndSeekdirResumesAtTelldir()
    {
        var (view, host) = NewDir("many");
        var expected = new HashSet<string>(StringComparer.Ordinal) { ".", ".." };
        for (var i = 0; i < 5000; i++)
        {
            var name = $"entry-{i:D5}-{new string('x', i % 40)}";
            File.WriteAllBytes(Path.Combine(host, name), []);
            expected.Add(name);
        }

        var dir = opendir(view);
        Assert.NotEqual(0, dir);
        try
        {
            var names = new List<string>();
            var positions = new List<long>();
            nint entry;
            while ((entry = readdir(dir)) != 0)
            {
                names.Add(DirentName(entry));
                positions.Add(telldir(dir));
            }

            Assert.Equal(expected.Count, names.Count);
            Assert.Equal(names.Count, names.Distinct(StringComparer.Ordinal).Count());
            Assert.True(expected.SetEquals(names), "the listing differs from the directory");

            // seekdir to a position telldir returned resumes right after the entry read before it.
            foreach (var at in new[] { 0, 1, 777, 2500, 4999, names.Count - 2 })
            {
                seekdir(dir, positions[at]);
                var rest = new List<string>();
                while ((entry = readdir(dir)) != 0)
                {
                    rest.Add(DirentName(entry));
                }

                Assert.Equal(names.Skip(at + 1), rest);
            }
        }
        finally
        {
            closedir(dir);
        }

        // rm -r: list and unlink as it goes; every entry is removed, none is skipped.
        Directory.Delete(view, recursive: true);
        Assert.False(Directory.Exists(host));
    }

    [Fact]
    public void LongNames_255BytesWork_256BytesAreEnametoolong()
    {
        var (view, host) = NewDir("names");
        var ascii = new string('n', 255);
        var utf8 = string.Concat(Enumerable.Repeat("é", 127)) + "n"; // 255 bytes, 128 characters
        Assert.Equal(255, Encoding.UTF8.GetByteCount(utf8));

        foreach (var name in new[] { ascii, utf8 })
        {
            File.WriteAllText(Path.Combine(view, name), "long");
            Assert.Equal("long", File.ReadAllText(Path.Combine(host, name)));
        }

        var longDir = Path.Combine(view, new string('d', 255));
        Assert.Equal(Errno.OK, Check(mkdir(longDir, 0x1ED)));
        Assert.True(Directory.Exists(Path.Combine(host, new string('d', 255))));
        var entries = Directory.GetFileSystemEntries(view).Select(Path.GetFileName).ToList();
        Assert.Contains(ascii, entries);
        Assert.Contains(utf8, entries);

        foreach (var tooLong in new[] { Path.Combine(view, new string('n', 256)), Path.Combine(view, utf8 + "é") })
        {
            using (var fd = Open(tooLong, O_WRONLY | O_CREAT, 0x1A4, out var e))
            {
                Assert.Equal(Errno.ENAMETOOLONG, e);
            }

            Assert.Equal(Errno.ENAMETOOLONG, Lstat(tooLong, out _));
            Assert.Equal(Errno.ENAMETOOLONG, Check(mkdir(tooLong, 0x1ED)));
            Assert.Equal(Errno.ENAMETOOLONG, Check(rename(Path.Combine(view, ascii), tooLong)));
        }

        Assert.True(File.Exists(Path.Combine(view, ascii)));
    }

    [Fact]
    public void UnlinkWhileOpen_TheOpenFileStaysReadableAndWritable()
    {
        var (view, host) = NewDir("unlink");
        var file = Path.Combine(view, "scratch.tmp");
        File.WriteAllText(file, "still here");
        using var fd = OpenOrFail(file, O_RDWR);

        Assert.Equal(Errno.OK, Check(unlink(file)));

        Assert.False(File.Exists(file));
        Assert.False(File.Exists(Path.Combine(host, "scratch.tmp")));
        Assert.Equal("still here", PRead(fd, 64, 0, out var e));
        Assert.Equal(Errno.OK, e);
        Assert.Equal(Errno.OK, Fstat(fd, out var st));
        Assert.Equal(0u, st.Nlink);
        Assert.Equal(10, Seek(fd, 0, SEEK_END, out _));
        Assert.Equal(Errno.OK, Write(fd, "!", out _));
        Assert.Equal("still here!", PRead(fd, 64, 0, out _));
    }

    [Fact]
    public void Ftruncate_ShrinksAndGrows()
    {
        var (view, host) = NewDir("ftruncate");
        var file = Path.Combine(view, "f.bin");
        File.WriteAllText(file, new string('q', 100));

        using (var fd = OpenOrFail(file, O_RDWR))
        {
            Assert.Equal(Errno.OK, Check(ftruncate(fd, 10)));
            Assert.Equal(Errno.OK, Fstat(fd, out var st));
            Assert.Equal(10ul, st.Size);
            Assert.Equal(10, new FileInfo(Path.Combine(host, "f.bin")).Length);

            Assert.Equal(Errno.OK, Check(ftruncate(fd, 1 << 20)));
            Assert.Equal(Errno.OK, Fstat(fd, out st));
            Assert.Equal(1ul << 20, st.Size);
            Assert.Equal(new string('q', 10) + "\0\0", PRead(fd, 12, 0, out _));
        }

        // truncate(2) by path (SETATTR without a handle).
        Assert.Equal(Errno.OK, Check(truncate(file, 5)));
        Assert.Equal(Errno.OK, Lstat(file, out var after));
        Assert.Equal(5ul, after.Size);
        Assert.Equal("qqqqq", File.ReadAllText(Path.Combine(host, "f.bin")));
    }

    [Fact]
    public void Utimes_SetsAccessAndModificationTimesToTheNanosecond()
    {
        var (view, host) = NewDir("utimes");
        var file = Path.Combine(view, "f.txt");
        File.WriteAllText(file, "t");

        var atime = new Timespec { Sec = 1_000_000_000, Nsec = 123_456_789 };
        var mtime = new Timespec { Sec = 1_100_000_000, Nsec = 987_654_321 };
        Assert.Equal(Errno.OK, UtimeNs(file, atime, mtime));

        foreach (var path in new[] { file, Path.Combine(host, "f.txt") })
        {
            Assert.Equal(Errno.OK, Lstat(path, out var st));
            Assert.Equal((1_000_000_000L, 123_456_789u), (st.Atime.Sec, st.Atime.Nsec));
            Assert.Equal((1_100_000_000L, 987_654_321u), (st.Mtime.Sec, st.Mtime.Nsec));
        }

        // touch: both set to now.
        var before = DateTimeOffset.UtcNow.ToUnixTimeSeconds() - 1;
        const long UtimeNow = (1L << 30) - 1;
        Assert.Equal(Errno.OK, UtimeNs(file, new Timespec { Nsec = UtimeNow }, new Timespec { Nsec = UtimeNow }));
        Assert.Equal(Errno.OK, Lstat(file, out var touched));
        Assert.True(touched.Mtime.Sec >= before, $"mtime {touched.Mtime.Sec} < {before}");
        Assert.True(touched.Atime.Sec >= before, $"atime {touched.Atime.Sec} < {before}");
    }

    [Fact]
    public void Chmod_WithTheSetattrRight_ChangesTheModeOnTheHost()
    {
        var (view, host) = NewDir("chmod");
        var file = Path.Combine(view, "f.sh");
        File.WriteAllText(file, "#!/bin/sh\n");

        foreach (var mode in new uint[] { 0x180 /* 0600 */, 0x1ED /* 0755 */, 0x120 /* 0440 */ })
        {
            Assert.Equal(Errno.OK, Check(chmod(file, mode)));
            Assert.Equal(Errno.OK, Lstat(file, out var seen));
            Assert.Equal(mode, seen.Mode & 0xFFFu);
            Assert.Equal(Errno.OK, Lstat(Path.Combine(host, "f.sh"), out var onHost));
            Assert.Equal(mode, onHost.Mode & 0xFFFu);
        }

        Assert.Equal(Errno.OK, Check(chmod(view, 0x1C0 /* 0700 */)));
        Assert.Equal(Errno.OK, Lstat(host, out var dir));
        Assert.Equal(0x1C0u, dir.Mode & 0xFFFu);
    }

    [Fact]
    public void Xattr_UserNamespace_RoundTrips()
    {
        var (view, host) = NewDir("xattr");
        var file = Path.Combine(view, "f.txt");
        File.WriteAllText(file, "x");

        foreach (var path in new[] { file, view })
        {
            Assert.Equal(Errno.OK, SetXattr(path, "user.spectrum.test", "value ✓", 0));
            Assert.Equal("value ✓", GetXattr(path, "user.spectrum.test", out var e));
            Assert.Equal(Errno.OK, e);
            Assert.Contains("user.spectrum.test", ListXattr(path, out _));
            Assert.Equal(Errno.EEXIST, SetXattr(path, "user.spectrum.test", "again", XATTR_CREATE));
            Assert.Equal(Errno.OK, SetXattr(path, "user.spectrum.test", "replaced", 0));
            Assert.Equal("replaced", GetXattr(path, "user.spectrum.test", out _));
        }

        Assert.Equal("replaced", GetXattr(Path.Combine(host, "f.txt"), "user.spectrum.test", out _));
        Assert.Equal(Errno.OK, RemoveXattr(file, "user.spectrum.test"));
        Assert.Null(GetXattr(file, "user.spectrum.test", out var gone));
        Assert.Equal(Errno.ENODATA, gone);
        Assert.DoesNotContain("user.spectrum.test", ListXattr(file, out _));
        Assert.Null(GetXattr(Path.Combine(host, "f.txt"), "user.spectrum.test", out _));
    }

    [Fact]
    public void Statfs_ReportsTheBackingFilesystem()
    {
        var (view, host) = NewDir("statfs");

        Assert.Equal(Errno.OK, StatFs(view, out var seen));
        Assert.Equal(Errno.OK, StatFs(host, out var real));

        Assert.Equal(FUSE_SUPER_MAGIC, seen.Type);
        Assert.Equal(real.Blocks, seen.Blocks);
        Assert.Equal(real.Bsize, seen.Bsize);
        Assert.Equal(real.Files, seen.Files);
        Assert.Equal(255, seen.Namelen);
        Assert.InRange((double)seen.Bavail, real.Bavail * 0.9, real.Bavail * 1.1 + 1);
    }

    [Fact]
    public void Sqlite_WalDatabaseInTheView_WritesReadsAndPassesIntegrityCheck()
    {
        var (view, host) = NewDir("sqlite");
        var database = Path.Combine(view, "app.db");
        var connectionString = new SqliteConnectionStringBuilder { DataSource = database, Pooling = false }.ToString();

        using (var connection = new SqliteConnection(connectionString))
        {
            connection.Open();
            Assert.Equal("wal", Scalar(connection, "PRAGMA journal_mode=WAL"));
            Execute(connection, "CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT NOT NULL)");
            for (var batch = 0; batch < 10; batch++)
            {
                using var tx = connection.BeginTransaction();
                for (var i = 0; i < 100; i++)
                {
                    using var insert = connection.CreateCommand();
                    insert.Transaction = tx;
                    insert.CommandText = "INSERT INTO notes (body) VALUES ($body)";
                    insert.Parameters.AddWithValue("$body", $"note {batch * 100 + i} " + new string('w', i));
                    insert.ExecuteNonQuery();
                }

                tx.Commit();
            }

            Assert.True(File.Exists(database + "-wal"), "no WAL file: the database is not in WAL mode");
            Assert.Equal("1000", Scalar(connection, "SELECT count(*) FROM notes"));
            Assert.Equal("note 999 " + new string('w', 99), Scalar(connection, "SELECT body FROM notes WHERE id = 1000"));

            // A second connection reads through the shared-memory index (the -shm file, mmapped through the view).
            using (var reader = new SqliteConnection(connectionString))
            {
                reader.Open();
                Assert.Equal("1000", Scalar(reader, "SELECT count(*) FROM notes"));
            }

            Assert.Equal("ok", Scalar(connection, "PRAGMA integrity_check"));
        }

        // Closed and checkpointed: the host sees a sound database with every row.
        using var onHost = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = Path.Combine(host, "app.db"), Pooling = false, Mode = SqliteOpenMode.ReadOnly }.ToString());
        onHost.Open();
        Assert.Equal("1000", Scalar(onHost, "SELECT count(*) FROM notes"));
        Assert.Equal("ok", Scalar(onHost, "PRAGMA integrity_check"));
    }

    private static string? Scalar(SqliteConnection connection, string sql)
    {
        using var command = connection.CreateCommand();
        command.CommandText = sql;
        return Convert.ToString(command.ExecuteScalar(), System.Globalization.CultureInfo.InvariantCulture);
    }

    private static void Execute(SqliteConnection connection, string sql)
    {
        using var command = connection.CreateCommand();
        command.CommandText = sql;
        command.ExecuteNonQuery();
    }
}
