namespace Spectrum.Interop.Tests;

public sealed class AllocationTests : IDisposable
{
    private readonly TempTree _tree = new();

    public void Dispose() => _tree.Dispose();

    [Fact]
    public void DataPathCalls_AllocateNothing()
    {
        _tree.File("f", new string('x', 8192));
        _tree.Dir("d");
        for (var i = 0; i < 20; i++)
        {
            File.Create(_tree[$"d/e{i}"]).Dispose();
        }

        using var file = _tree.Open("f", OpenFlags.ReadOnly);
        using var opath = _tree.Open("f", OpenFlags.Path);
        using var dirPath = _tree.Open("d", OpenFlags.Path | OpenFlags.Directory);
        Assert.Equal(Errno.OK, Posix.Reopen(dirPath, OpenFlags.ReadOnly | OpenFlags.Directory, out var dir));
        using (dir)
        {
            var buffer = new byte[4096];
            var dents = new byte[4096];
            long total = 0;

            void Round()
            {
                Posix.PRead(file, buffer, 100, out var read);
                total += read;
                Posix.Stat(opath, out var st);
                total += (long)st.Size;
                Posix.StatAt(_tree.Root, "f"u8, out st);
                Posix.OpenAt(_tree.Root, "missing"u8, OpenFlags.Path, 0, out _);
                Posix.OpenBeneath(_tree.Root, "d/missing"u8, OpenFlags.Path, 0, out _);
                Posix.SeekDir(dir!, 0);
                Posix.GetDents(dir!, dents, out var length);
                foreach (var e in new DirentReader(dents.AsSpan(0, length)))
                {
                    total += e.Name.Length;
                }

                Posix.Seek(file, 0, SeekWhence.Data, out _);
                Posix.Statfs(opath, out _);
            }

            for (var i = 0; i < 50; i++)
            {
                Round();
            }

            var before = GC.GetAllocatedBytesForCurrentThread();
            for (var i = 0; i < 1000; i++)
            {
                Round();
            }

            var allocated = GC.GetAllocatedBytesForCurrentThread() - before;
            Assert.True(total > 0);
            Assert.Equal(0, allocated);
        }
    }
}
