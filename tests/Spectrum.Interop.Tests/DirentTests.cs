using System.Text;

namespace Spectrum.Interop.Tests;

public sealed class DirentTests : IDisposable
{
    private readonly TempTree _tree = new();

    public void Dispose() => _tree.Dispose();

    [Fact]
    public void GetDents_FiveThousandEntries_EachSeenOnceWithItsType()
    {
        const int Count = 5000;
        for (var i = 0; i < Count; i++)
        {
            File.Create(_tree[$"file-{i:D5}"]).Dispose();
        }

        _tree.Dir("sub");
        _tree.Symlink("link", "file-00000");
        using var dir = OpenDir();

        var all = ReadAll(dir);
        Assert.Equal(Count + 2 + 2, all.Count);
        Assert.Equal(all.Count, all.Select(e => e.Name).Distinct().Count());
        Assert.Contains(all, e => e.Name == "." && e.Type == DirentType.Directory);
        Assert.Contains(all, e => e.Name == ".." && e.Type == DirentType.Directory);
        Assert.Contains(all, e => e.Name == "sub" && e.Type == DirentType.Directory);
        Assert.Contains(all, e => e.Name == "link" && e.Type == DirentType.Symlink);
        Assert.Equal(Count, all.Count(e => e.Name.StartsWith("file-", StringComparison.Ordinal) && e.Type == DirentType.Regular));
        Assert.All(all, e => Assert.NotEqual(0ul, e.Ino));
    }

    [Fact]
    public void SeekDir_ToSavedOffset_ResumesAfterThatEntry()
    {
        for (var i = 0; i < 5000; i++)
        {
            File.Create(_tree[$"f{i}"]).Dispose();
        }

        using var dir = OpenDir();
        var first = ReadAll(dir);
        var saveAt = first.Count / 2;
        var saved = first[saveAt].Offset;

        Assert.Equal(Errno.OK, Posix.SeekDir(dir, saved));
        var resumed = ReadAll(dir);
        Assert.Equal(first.Skip(saveAt + 1).Select(e => e.Name), resumed.Select(e => e.Name));

        Assert.Equal(Errno.OK, Posix.SeekDir(dir, 0));
        Assert.Equal(first.Select(e => e.Name), ReadAll(dir).Select(e => e.Name));
    }

    [Fact]
    public void GetDents_EmptyDirectory_HasDotAndDotDotThenZero()
    {
        _tree.Dir("empty");
        Assert.Equal(Errno.OK, Posix.OpenAt(_tree.Root, "empty"u8, OpenFlags.ReadOnly | OpenFlags.Directory, 0, out var dir));
        using (dir)
        {
            Assert.Equal(new[] { ".", ".." }, ReadAll(dir!).Select(e => e.Name).Order(StringComparer.Ordinal));
            Assert.Equal(Errno.OK, Posix.GetDents(dir!, new byte[1024], out var length));
            Assert.Equal(0, length);
        }
    }

    [Fact]
    public void GetDents_BufferSmallerThanOneEntry_IsEinval()
    {
        using var dir = OpenDir();
        Assert.Equal(Errno.EINVAL, Posix.GetDents(dir, new byte[16], out _));
    }

    [Fact]
    public void GetDents_OPathFd_IsEbadf()
    {
        using var opath = _tree.Open(".", OpenFlags.Path | OpenFlags.Directory);
        Assert.Equal(Errno.EBADF, Posix.GetDents(opath, new byte[4096], out _));
    }

    [Fact]
    public void DirentReader_TruncatedRecord_Stops()
    {
        var record = new byte[24];
        BitConverter.TryWriteBytes(record.AsSpan(16), (ushort)24);
        record[18] = (byte)DirentType.Regular;
        Encoding.ASCII.GetBytes("abc").CopyTo(record, 19);
        var count = 0;
        foreach (var e in new DirentReader(record.AsSpan(0, 23)))
        {
            count++;
        }

        Assert.Equal(0, count);
        foreach (var e in new DirentReader(record))
        {
            Assert.Equal("abc", T.S(e.Name));
            count++;
        }

        Assert.Equal(1, count);
    }

    private SafeFd OpenDir()
    {
        using var opath = _tree.Open(".", OpenFlags.Path | OpenFlags.Directory);
        Assert.Equal(Errno.OK, Posix.Reopen(opath, OpenFlags.ReadOnly | OpenFlags.Directory, out var dir));
        return dir!;
    }

    private static List<(string Name, ulong Ino, long Offset, DirentType Type)> ReadAll(SafeFd dir)
    {
        var result = new List<(string, ulong, long, DirentType)>();
        var buffer = new byte[4096];
        while (true)
        {
            Assert.Equal(Errno.OK, Posix.GetDents(dir, buffer, out var length));
            if (length == 0)
            {
                return result;
            }

            foreach (var e in new DirentReader(buffer.AsSpan(0, length)))
            {
                result.Add((T.S(e.Name), e.Ino, e.Offset, e.Type));
            }
        }
    }
}
