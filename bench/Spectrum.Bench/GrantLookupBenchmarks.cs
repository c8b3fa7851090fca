using BenchmarkDotNet.Attributes;
using Microsoft.Extensions.Logging.Abstractions;
using Spectrum.Broker.Grants;
using Spectrum.Broker.Hosting;

namespace Spectrum.Bench;

/// <summary>
/// Grant lookups in a store of 100,000 grants for one VM plus 1,000 VMs with 10 grants each
/// (BENCHMARKS.md, "Grant scale"), against the same lookups in a store holding one grant: the ratio
/// is what scale costs. Also the broker's start (open, check, reconcile) on each store.
/// </summary>
[MemoryDiagnoser]
public class GrantLookupBenchmarks
{
    private Store _small = null!;
    private Store _large = null!;

    private sealed record Store(string Root, BrokerServices Services, string GrantId);

    [GlobalSetup]
    public void Setup()
    {
        _small = Create(bigVmGrants: 0, vms: 0, grantsPerVm: 0);
        _large = Create(bigVmGrants: 100_000, vms: 1_000, grantsPerVm: 10);
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        foreach (var s in new[] { _small, _large })
        {
            s.Services.Dispose();
            Directory.Delete(s.Root, recursive: true);
        }
    }

    private static Store Create(int bigVmGrants, int vms, int grantsPerVm)
    {
        var root = Directory.CreateTempSubdirectory("spectrum-bench-").FullName;
        var paths = Paths(root);
        Directory.CreateDirectory(Path.Combine(paths.Tree, "Documents", "big"));
        File.WriteAllText(Path.Combine(paths.Tree, "Documents", "report.odt"), "x");
        Directory.CreateDirectory(Path.Combine(paths.Policies, "vms"));
        var services = Open(paths);
        var id = services.Grants.GrantAsync("uid:0", new GrantSpec { Vm = "editor", Path = "Documents/report.odt", Rights = "rw" }).GetAwaiter().GetResult().Id;
        services.Store.Write(tx =>
        {
            var now = tx.NowMs;
            void Add(string vm, string path) => tx.Execute(
                "INSERT INTO grants (id, vm, path, kind, rights, persistence, source, created_at, state) VALUES (@id, @vm, @path, 'file', 1, 'persistent', 'cli', @now, 'active')",
                new { id = GrantService.NewGrantId(), vm, path, now });
            for (var i = 0; i < bigVmGrants; i++)
            {
                Add("big", $"Documents/big/f{i:D6}");
            }

            for (var v = 0; v < vms; v++)
            {
                for (var g = 0; g < grantsPerVm; g++)
                {
                    Add($"vm{v:D4}", $"Documents/vm{v:D4}/f{g}");
                }
            }

            return 0;
        });
        return new Store(root, services, id);
    }

    private static BrokerPaths Paths(string root) => new()
    {
        Tree = Path.Combine(root, "tree"),
        StateDir = Path.Combine(root, "state"),
        RuntimeDir = Path.Combine(root, "run"),
        Policies = Path.Combine(root, "policies"),
        Socket = Path.Combine(root, "run", "broker.sock"),
    };

    private static BrokerServices Open(BrokerPaths paths) =>
        BrokerServices.Open(paths, Spectrum.Policy.PolicyLoader.Load(paths.Policies), TimeProvider.System, NullLogger.Instance);

    /// <summary>Closes the stores and hands their folders over (for the start benchmark).</summary>
    internal (string Small, string Large) DetachRoots()
    {
        _small.Services.Dispose();
        _large.Services.Dispose();
        return (_small.Root, _large.Root);
    }

    internal static BrokerServices Reopen(string root) => Open(Paths(root));

    [Benchmark(Baseline = true)]
    public int WhoCan_OneGrantStore() => _small.Services.Grants.WhoCan("Documents/report.odt").Count;

    [Benchmark]
    public int WhoCan_LargeStore() => _large.Services.Grants.WhoCan("Documents/report.odt").Count;

    [Benchmark]
    public string Show_OneGrantStore() => _small.Services.Grants.Show(_small.GrantId).State;

    [Benchmark]
    public string Show_LargeStore() => _large.Services.Grants.Show(_large.GrantId).State;

    [Benchmark]
    public int ListVm_LargeStore_TenGrants() => _large.Services.Grants.List("vm0500", null, all: false).Count;
}

/// <summary>Broker start (lock, key, integrity check, migrations, policy reconcile) on a small and a 110,000-grant store.</summary>
[MemoryDiagnoser]
public class BrokerStartBenchmarks
{
    private string _small = null!;
    private string _large = null!;

    [GlobalSetup]
    public void Setup()
    {
        var lookups = new GrantLookupBenchmarks();
        lookups.Setup();
        (_small, _large) = lookups.DetachRoots();
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        Directory.Delete(_small, recursive: true);
        Directory.Delete(_large, recursive: true);
    }

    [Benchmark(Baseline = true)]
    public void Start_OneGrantStore() => GrantLookupBenchmarks.Reopen(_small).Dispose();

    [Benchmark]
    public void Start_LargeStore() => GrantLookupBenchmarks.Reopen(_large).Dispose();
}
