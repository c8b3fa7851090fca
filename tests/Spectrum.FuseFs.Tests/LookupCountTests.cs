using System.Diagnostics;

namespace Spectrum.FuseFs.Tests;

/// <summary>
/// Every lookup reference the kernel receives comes back as a forget: after real workloads and
/// a dentry/inode cache drop, the session knows no node and the filesystem holds no reference.
/// </summary>
[Collection(KernelCaches.Name)]
public sealed class LookupCountTests
{
    [Fact]
    public void Lookup_AfterFindDuAndParallelCp_EveryLookupIsForgotten()
    {
        using var mount = new TestMount(configure: fs => fs.EntryTimeout = TimeSpan.FromMinutes(5));
        var tree = Path.Combine(mount.Backing, "tree");
        for (var d = 0; d < 8; d++)
        {
            var dir = Directory.CreateDirectory(Path.Combine(tree, $"d{d}", "inner")).FullName;
            for (var f = 0; f < 40; f++)
            {
                File.WriteAllText(Path.Combine(dir, $"f{f}"), new string('x', f * 10));
                File.WriteAllText(Path.Combine(tree, $"d{d}", $"top{f}"), "t");
            }

            File.CreateSymbolicLink(Path.Combine(tree, $"d{d}", "link"), "inner");
        }

        Run("find", mount["tree"], "-type", "f");
        Run("du", "-s", mount["tree"]);
        Run("sh", "-c", $"cp -r '{mount["tree"]}' '{mount["copy1"]}' & cp -r '{mount["tree"]}' '{mount["copy2"]}' & cp -r '{mount["tree"]}' '{mount["copy3"]}' & wait");
        Assert.Equal(Directory.GetFiles(tree, "*", SearchOption.AllDirectories).Length, Directory.GetFiles(Path.Combine(mount.Backing, "copy2"), "*", SearchOption.AllDirectories).Length);

        var before = mount.Session.Statistics;
        Assert.True(before.Lookups > 600, $"only {before.Lookups} lookups: the workload did not go through the mount");
        Assert.True(mount.DropCachesUntilForgotten(TimeSpan.FromSeconds(15)), $"still live: {mount.Session.Statistics}");
        var after = mount.Session.Statistics;
        Assert.Equal(after.Lookups, after.Forgets + after.RootReferences);
        Assert.Equal(0, after.OverForgets);
        Assert.Equal(0, mount.FileSystem.LiveKeys);
        Assert.Empty(mount.Errors);
    }

    [Fact]
    public void Lookup_ReaddirplusEntries_AreCountedAndForgotten()
    {
        using var mount = new TestMount();
        for (var i = 0; i < 500; i++)
        {
            File.WriteAllText(Path.Combine(mount.Backing, $"e{i}"), "");
        }

        // ls -l: READDIRPLUS hands out nodes, then stats (served from those entries).
        Run("ls", "-l", mount.MountPoint);
        Assert.True(mount.Session.Statistics.Lookups >= 500, $"{mount.Session.Statistics}"); // cumulative: another test may drop caches meanwhile
        Assert.True(mount.DropCachesUntilForgotten(TimeSpan.FromSeconds(15)), $"still live: {mount.Session.Statistics}");
        Assert.Equal(0, mount.FileSystem.LiveKeys);
        Assert.Equal(0, mount.Session.Statistics.OverForgets);
        Assert.Empty(mount.Errors);
    }

    [Fact]
    public void Lookup_NodeIds_AreNeverReused()
    {
        using var mount = new TestMount(configure: fs => fs.EntryTimeout = TimeSpan.Zero);
        File.WriteAllText(Path.Combine(mount.Backing, "f"), "");
        Native.Lstat(mount["f"], out _);
        var first = mount.Session.Nodes.TryGetNodeId(mount.FileSystem.KeyOf("f"), out var id1) ? id1 : 0;
        Assert.True(mount.DropCachesUntilForgotten(TimeSpan.FromSeconds(15)));
        Native.Lstat(mount["f"], out _);
        Assert.True(mount.Session.Nodes.TryGetNodeId(mount.FileSystem.KeyOf("f"), out var second));
        Assert.NotEqual(0ul, first);
        Assert.True(second > first, $"node id {second} after {first}");
    }

    private static void Run(string program, params string[] arguments)
    {
        var start = new ProcessStartInfo(program) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        using var process = Process.Start(start)!;
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEnd();
        output.Wait();
        process.WaitForExit();
        Assert.True(process.ExitCode == 0, $"{program} {string.Join(' ', arguments)}: {error}");
    }
}
