using Microsoft.Extensions.DependencyInjection;
using Spectrum.Broker.Hosting;
using Spectrum.Broker.Views;
using Spectrum.FuseFs;
using static Spectrum.Broker.Tests.Views.ViewPosixNative;

namespace Spectrum.Broker.Tests.Views;

/// <summary>
/// Every lookup reference a view hands the kernel comes back as a forget, and the view holds no
/// node (and no host fd) the kernel does not reference. The broker is hosted in this process so
/// that the test can read the view's FUSE statistics and node table; the workloads are real
/// programs (find, du, three parallel cp -r) on the real mount.
/// </summary>
public sealed class ViewLookupCountTests : IAsyncLifetime
{
    private const int Files = 500;
    private readonly TestDirs _dirs = new();
    private InProcessBroker _broker = null!;

    private string ViewRoot => Path.Combine(_dirs.Run, "vm", "editor", "view");

    public async Task InitializeAsync()
    {
        // A 500-file tree in 10 directories of 5 subdirectories, inside the granted directory.
        for (var i = 0; i < Files; i++)
        {
            _dirs.Write($"Work/src/d{i % 10}/s{i % 5}/file{i}.txt", new string('c', i % 300));
        }

        File.CreateSymbolicLink(Path.Combine(_dirs.Tree, "Work", "src", "link"), "d0");
        _dirs.Policy("editor", "[[grant]]\npath = \"Work\"\nrights = \"rw\"\n");
        _broker = await InProcessBroker.StartAsync(_dirs, TimeProvider.System);
    }

    public async Task DisposeAsync()
    {
        await _broker.DisposeAsync();
        _dirs.Dispose();
    }

    [Fact]
    public async Task LookupCounts_AfterFindDuAndParallelCp_EveryLookupIsForgottenAndNoNodeIsHeldBeyondTheKernels()
    {
        var services = _broker.App.Services.GetRequiredService<BrokerServices>();
        var found = services.Views!.Find("editor");
        Assert.True(found.HasValue, "the editor's view is not mounted");
        var (fs, session) = found.Value;
        await session.Initialized.WaitAsync(TimeSpan.FromSeconds(10));

        // The workloads, as real programs on the mount.
        RunOk("find", ViewRoot);
        RunOk("du", "-s", ViewRoot);
        var src = Path.Combine(ViewRoot, "Work", "src");
        RunOk("sh", "-c", $"cp -r '{src}' '{ViewRoot}/Work/copy1' & cp -r '{src}' '{ViewRoot}/Work/copy2' & cp -r '{src}' '{ViewRoot}/Work/copy3' & wait");
        for (var copy = 1; copy <= 3; copy++)
        {
            var copied = Directory.GetFiles(Path.Combine(_dirs.Tree, "Work", $"copy{copy}"), "*", new EnumerationOptions { RecurseSubdirectories = true, AttributesToSkip = FileAttributes.ReparsePoint });
            Assert.Equal(Files, copied.Length);
            Assert.Equal("d0", new FileInfo(Path.Combine(_dirs.Tree, "Work", $"copy{copy}", "link")).LinkTarget);
        }

        var busy = session.Statistics;
        Assert.True(busy.Lookups > 4 * Files, $"only {busy.Lookups} lookups: the workload did not go through the view");
        Assert.Equal(busy.LiveNodes, NodeCount(fs) - 1);
        var highestKey = fs.Nodes.Max(n => n.Key);

        // With a file held open, the kernel keeps it and its ancestors; the view keeps exactly those.
        var held = Path.Combine(ViewRoot, "Work", "src", "d3", "s3", "file3.txt");
        using (var open = OpenOrFail(held, O_RDONLY))
        {
            Assert.True(DropCachesUntil(session, s => s.LiveNodes <= 5, TimeSpan.FromSeconds(20)), $"still live: {session.Statistics}");
            var pinned = session.Statistics;
            Assert.Equal(5, pinned.LiveNodes); // Work, src, d3, s3, file3.txt
            Assert.Equal(
                new[] { ".", "Work", "Work/src", "Work/src/d3", "Work/src/d3/s3", "Work/src/d3/s3/file3.txt" },
                fs.Nodes.Select(PathOf).Order(StringComparer.Ordinal));
            Assert.Equal(5 + 1, HostFdsUnderTree()); // an O_PATH fd per node, and the open file's fd
        }

        Assert.True(DropCachesUntil(session, s => s.LiveNodes == 0, TimeSpan.FromSeconds(20)), $"still live: {session.Statistics}");
        var quiet = session.Statistics;
        Assert.Equal(quiet.Lookups, quiet.Forgets + quiet.RootReferences);
        Assert.Equal(0, quiet.RootReferences);
        Assert.Equal(0, quiet.OverForgets);
        Assert.Equal([FuseSession.RootKey], fs.Nodes.Select(n => n.Key));
        Assert.Equal(0, HostFdsUnderTree());

        // Looked up again, the same names get new nodes: keys (and node ids) are never reused.
        RunOk("find", ViewRoot, "-name", "file1*");
        Assert.All(fs.Nodes.Where(n => n.Key != FuseSession.RootKey), n => Assert.True(n.Key > highestKey, $"{PathOf(n)} reuses key {n.Key} (<= {highestKey})"));
        Assert.Equal(session.Statistics.LiveNodes, NodeCount(fs) - 1);

        // Unmount (broker stop): the mount is gone, the view holds nothing and no host fd is left.
        await _broker.StopAsync();
        Assert.Empty(MountsAt(_dirs.Root, below: true));
        Assert.True(session.Completion.IsCompleted, "the view's readers did not stop");
        Assert.DoesNotContain(fs.Nodes, n => n.Key != FuseSession.RootKey);
        Assert.Equal(0, HostFdsUnderTree());
        Assert.Equal(0, session.Statistics.OverForgets);
    }

    private static int NodeCount(ViewFileSystem fs) => fs.Nodes.Count();

    /// <summary>Drops the dentry and inode caches until the view's statistics satisfy <paramref name="done"/>.</summary>
    private static bool DropCachesUntil(FuseSession session, Func<FuseNodeStatistics, bool> done, TimeSpan timeout)
    {
        RunOk("sync");
        var deadline = DateTime.UtcNow + timeout;
        while (DateTime.UtcNow < deadline)
        {
            File.WriteAllText("/proc/sys/vm/drop_caches", "2");
            Thread.Sleep(50);
            if (done(session.Statistics))
            {
                // Settle: forgets arrive asynchronously; check the answer holds.
                Thread.Sleep(100);
                if (done(session.Statistics))
                {
                    return true;
                }
            }
        }

        return false;
    }

    /// <summary>This process's fds on objects below the tree (the view's O_PATH and open fds).</summary>
    private int HostFdsUnderTree()
    {
        var count = 0;
        foreach (var fd in Directory.EnumerateFileSystemEntries("/proc/self/fd"))
        {
            try
            {
                var target = new FileInfo(fd).LinkTarget;
                if (target is not null && target.StartsWith(_dirs.Tree + "/", StringComparison.Ordinal))
                {
                    count++;
                }
            }
            catch (IOException)
            {
                // Closed between the listing and the readlink.
            }
        }

        return count;
    }

    private static void RunOk(string program, params string[] arguments)
    {
        var (exitCode, error) = Run(program, arguments);
        Assert.True(exitCode == 0, $"{program} {string.Join(' ', arguments)} exited with {exitCode}: {error}");
    }

    /// <summary>A node's path in the view, made from its parents (views keep no paths).</summary>
    private static string PathOf(ViewNode node)
    {
        var names = new List<string>();
        for (var n = node; n.Parent is not null; n = n.Parent)
        {
            names.Add(System.Text.Encoding.UTF8.GetString(n.Name));
        }

        names.Reverse();
        return names.Count == 0 ? "." : string.Join('/', names);
    }
}
