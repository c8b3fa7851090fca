namespace Spectrum.Interop.Tests;

public sealed class FsTests : IDisposable
{
    private readonly TempTree _tree = new();

    public void Dispose() => _tree.Dispose();

    [Fact]
    public void Statfs_OPathFd_MatchesDriveInfo()
    {
        Assert.Equal(Errno.OK, Posix.Statfs(_tree.Root, out var st));
        Assert.True(st.Blocks > 0);
        Assert.True(st.Bfree <= st.Blocks);
        Assert.True(st.Bavail <= st.Bfree);
        Assert.True(st.Bsize > 0 && st.Frsize > 0);
        Assert.Equal(255, st.Namelen);
        Assert.True(st.Files >= st.Ffree);

        var (exit, output) = T.Run("stat", "-f", "-c", "%t %b %S %l", _tree.Path);
        Assert.Equal(0, exit);
        var fields = output.Trim().Split(' ');
        Assert.Equal(Convert.ToInt64(fields[0], 16), st.Type);
        Assert.Equal(long.Parse(fields[1], System.Globalization.CultureInfo.InvariantCulture), (long)st.Blocks);
        Assert.Equal(long.Parse(fields[2], System.Globalization.CultureInfo.InvariantCulture), st.Frsize);
    }

    [Fact]
    public void Statfs_Proc_ReportsProcMagic()
    {
        using var proc = Files.OpenDirectoryPath("/proc");
        Assert.Equal(Errno.OK, Posix.Statfs(proc, out var st));
        Assert.Equal(0x9FA0, st.Type);
    }
}
