using BenchmarkDotNet.Attributes;
using Spectrum.Broker.Views;
using Spectrum.Capabilities;
using Spectrum.FuseFs;
using Spectrum.Interop;

namespace Spectrum.Bench;

/// <summary>
/// The per-operation grant check on a live view (BENCHMARKS.md, "The control path": no crypto, no
/// allocation, under 200 ns). A view filesystem over a real tree with the grant table of a VM
/// holding 10,000 grants is called the way the FUSE session calls it, on operations that do the
/// check and no system call: ACCESS on a node below a directory grant (the check every operation
/// on a backed node makes: a volatile read per grant, and a clock read for a grant that expires),
/// ACCESS and GETATTR on a synthesized ancestor (the table walk), and LOOKUP of an ungranted name in
/// a synthesized directory (the negative answer a filtered view gives most). Allocated must read 0 B.
/// </summary>
[MemoryDiagnoser]
public class ViewGrantCheckBenchmarks
{
    private const int R_OK = 4;
    private const int ManyGrants = 10_000;

    private string _root = "";
    private SafeFd? _tree;
    private ViewFileSystem _view = null!;
    private ulong _file;
    private ulong _expiringFile;
    private ulong _documents;
    private ulong _deepAncestor;

    [GlobalSetup]
    public void Setup()
    {
        _root = Directory.CreateTempSubdirectory("spectrum-bench-view-").FullName;
        Write("Documents/Work/sub/file.txt");
        Write("Temporary/sub/file.txt");
        Write("A/B/C/D/leaf.txt");
        _tree = Files.OpenDirectoryPath(_root);

        var grants = new List<ViewGrant>
        {
            Grant("Documents/Work", isDirectory: true, null),
            Grant("Temporary", isDirectory: true, DateTimeOffset.UtcNow.AddDays(1).ToUnixTimeMilliseconds()),
            Grant("A/B/C/D/leaf.txt", isDirectory: false, null),
        };
        for (var i = 0; i < ManyGrants; i++)
        {
            // Table entries only: what a VM with many grants costs each check.
            grants.Add(new ViewGrant($"many{i}", TreePath.Parse($"Many/f{i:D6}"), false, Rights.ReadOnly, null, null));
        }

        _view = new ViewFileSystem("bench", new Host(_tree), new ViewSettings(1000, 1000, Passthrough: false));
        _view.Install(GrantTable.Compile(grants));
        _documents = Lookup(FuseSession.RootKey, "Documents");
        _file = Lookup(Lookup(Lookup(_documents, "Work"), "sub"), "file.txt");
        _expiringFile = Lookup(Lookup(Lookup(FuseSession.RootKey, "Temporary"), "sub"), "file.txt");
        _deepAncestor = Lookup(Lookup(Lookup(Lookup(FuseSession.RootKey, "A"), "B"), "C"), "D");
        if (Access_BackedNode() != Errno.OK || Access_BackedNode_ExpiringGrant() != Errno.OK
            || Access_SynthesizedAncestor() != Errno.OK || Lookup_UngrantedName_InSynthesizedDirectory() != Errno.ENOENT)
        {
            throw new InvalidOperationException("the view does not answer as the benchmark expects");
        }
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _view.Destroy();
        _tree?.Dispose();
        Directory.Delete(_root, recursive: true);
    }

    [Benchmark(Baseline = true)]
    public Errno Access_BackedNode() => _view.Access(default, _file, R_OK);

    [Benchmark]
    public Errno Access_BackedNode_ExpiringGrant() => _view.Access(default, _expiringFile, R_OK);

    [Benchmark]
    public Errno Access_SynthesizedAncestor() => _view.Access(default, _deepAncestor, R_OK);

    [Benchmark]
    public Errno GetAttr_SynthesizedAncestor()
    {
        var attr = default(FuseAttrOut);
        return _view.GetAttr(default, _deepAncestor, null, ref attr);
    }

    [Benchmark]
    public Errno Lookup_UngrantedName_InSynthesizedDirectory()
    {
        var entry = default(FuseEntryOut);
        return _view.Lookup(default, _documents, "Private"u8, ref entry);
    }

    private ulong Lookup(ulong parent, string name)
    {
        var entry = default(FuseEntryOut);
        var e = _view.Lookup(default, parent, System.Text.Encoding.UTF8.GetBytes(name), ref entry);
        return e == Errno.OK ? entry.NodeId : throw new InvalidOperationException($"lookup of {name}: {e}");
    }

    private ViewGrant Grant(string path, bool isDirectory, long? expiresAtMs)
    {
        using var fd = Files.OpenBeneath(_tree!, path);
        FileIdentity? parent = null;
        if (!isDirectory)
        {
            using var dir = Files.OpenBeneath(_tree!, path[..path.LastIndexOf('/')]);
            parent = Files.Identify(dir);
        }

        return new ViewGrant(path, TreePath.Parse(path), isDirectory, Rights.ReadWrite, Files.Identify(fd), expiresAtMs, parent);
    }

    private void Write(string relative)
    {
        var path = Path.Combine(_root, relative);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        File.WriteAllText(path, "x");
    }

    /// <summary>The tree, and no audit: a benchmark refuses nothing.</summary>
    private sealed class Host(SafeFd tree) : IViewHost
    {
        public TreeRootInfo Tree { get; } = new(tree, 0, 0);

        public void Denied(string vm, string op, string scope, ReadOnlySpan<byte> sample)
        {
        }

        public void Stale(string vm, ViewGrant grant, string reason) => grant.End();
    }
}
