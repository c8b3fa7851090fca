using Spectrum.Capabilities;

namespace Spectrum.Policy.Tests;

/// <summary>The shipped examples in the repository's <c>policies/</c> load and say what their comments say.</summary>
public sealed class ExamplePoliciesTests
{
    private static readonly string PoliciesDirectory = FindPolicies();

    [Fact]
    public void Load_RepositoryPolicies_LoadCleanly()
    {
        Assert.Empty(PolicyLoader.Check(PoliciesDirectory));

        var set = PolicyLoader.Load(PoliciesDirectory);

        Assert.Contains("editor", set.Vms.Keys);
        Assert.Contains("browser", set.Vms.Keys);
    }

    [Fact]
    public void Load_RepositoryBrokerToml_LeavesPathsToTheEmbeddedDefault()
    {
        var broker = PolicyLoader.Load(PoliciesDirectory).Broker;

        Assert.NotNull(broker.File);
        Assert.Null(broker.Tree);
        Assert.Null(broker.StateDir);
        Assert.Null(broker.RuntimeDir);
        Assert.Null(broker.Socket);
        Assert.Equal(BrokerPolicy.Default with { File = broker.File }, broker);
    }

    [Fact]
    public void Load_EditorExample_MatchesTheDocumentedPolicy()
    {
        var editor = PolicyLoader.Load(PoliciesDirectory).Vms["editor"];

        Assert.Equal(VmmKind.Qemu, editor.Vm!.Vmm);
        Assert.Equal(
            [("Documents", Rights.ReadWrite), ("Pictures/wallpaper.png", Rights.ReadOnly)],
            editor.Grants.Select(g => (g.Path.Value, g.Rights)));
        Assert.Equal(["Documents/**", "Downloads/**"], editor.Portal.Allow.Select(g => g.Pattern));
        Assert.Equal([".ssh/**", ".gnupg/**"], editor.Portal.Deny.Select(g => g.Pattern));
        Assert.Equal(PortalPersistence.Session, editor.Portal.Persistence);
    }

    [Fact]
    public void Load_BrowserExample_MatchesTheDocumentedPolicy()
    {
        var browser = PolicyLoader.Load(PoliciesDirectory).Vms["browser"];

        var grant = Assert.Single(browser.Grants);
        Assert.Equal("Downloads", grant.Path.Value);
        Assert.Equal(Rights.Read | Rights.Create, grant.Rights);
        Assert.Null(grant.Expires);
        Assert.Equal(["Downloads/**"], browser.Portal.Allow.Select(g => g.Pattern));
        Assert.Equal(Rights.ReadOnly, browser.Portal.MaxRights);
        Assert.Equal(PortalPersistence.For(TimeSpan.FromHours(8)), browser.Portal.Persistence);
        Assert.False(browser.View.Passthrough);
    }

    [Fact]
    public void Examples_GrantOnlyDemoTreePaths()
    {
        string[] demoTree = ["Documents", "Documents/report.odt", "Pictures/wallpaper.png", "Downloads"];

        Assert.All(PolicyLoader.Load(PoliciesDirectory).StaticGrants, g => Assert.Contains(g.Path.Value, demoTree));
    }

    [Theory]
    [InlineData("broker", "broker")]
    [InlineData("broker", "state_dir")]
    [InlineData("broker", "runtime_dir")]
    [InlineData("broker", "socket")]
    [InlineData("broker", "tree")]
    [InlineData("broker", "uid")]
    [InlineData("broker", "gid")]
    [InlineData("broker", "deny_interval")]
    [InlineData("broker", "expiry_sweep")]
    [InlineData("vms", "kernel")]
    [InlineData("vms", "initramfs")]
    [InlineData("vms", "cmdline")]
    [InlineData("vms", "disks")]
    [InlineData("vms", "memory")]
    [InlineData("vms", "cpus")]
    [InlineData("vms", "vmm")]
    [InlineData("vms", "arch")]
    [InlineData("vms", "virtiofsd_cache")]
    [InlineData("vms", "[[grant]]")]
    [InlineData("vms", "path")]
    [InlineData("vms", "rights")]
    [InlineData("vms", "expires")]
    [InlineData("vms", "kind")]
    [InlineData("vms", "[portal]")]
    [InlineData("vms", "allow")]
    [InlineData("vms", "deny")]
    [InlineData("vms", "max_rights")]
    [InlineData("vms", "persistence")]
    [InlineData("vms", "[view]")]
    [InlineData("vms", "passthrough")]
    public void Examples_MentionEveryKey(string where, string key)
    {
        var text = where == "broker"
            ? File.ReadAllText(Path.Combine(PoliciesDirectory, "broker.toml"))
            : string.Concat(Directory.GetFiles(Path.Combine(PoliciesDirectory, "vms"), "*.toml").Select(File.ReadAllText));

        Assert.Contains(key, text, StringComparison.Ordinal);
    }

    private static string FindPolicies()
    {
        for (var d = new DirectoryInfo(AppContext.BaseDirectory); d is not null; d = d.Parent)
        {
            if (File.Exists(Path.Combine(d.FullName, "Spectrum.sln")))
            {
                return Path.Combine(d.FullName, "policies");
            }
        }

        // Built with --artifacts-path outside the checkout: fall back to where the project was built from.
        var root = typeof(ExamplePoliciesTests).Assembly
            .GetCustomAttributes(typeof(System.Reflection.AssemblyMetadataAttribute), inherit: false)
            .Cast<System.Reflection.AssemblyMetadataAttribute>()
            .FirstOrDefault(a => a.Key == "RepositoryRoot")?.Value;
        if (root is not null && File.Exists(Path.Combine(root, "Spectrum.sln")))
        {
            return Path.Combine(Path.GetFullPath(root), "policies");
        }

        throw new InvalidOperationException("Spectrum.sln not found above " + AppContext.BaseDirectory + " nor at " + root);
    }
}
