using Spectrum.Broker.Hosting;
using Spectrum.Broker.State;
using Spectrum.Policy;

namespace Spectrum.Broker.Tests;

public sealed class BrokerPathsTests
{
    private static readonly Func<string, string?> NoEnv = _ => null;

    [Fact]
    public void Resolve_InACheckoutWithNoConfiguration_UsesTheEmbeddedDefaultInsideTheCheckout()
    {
        var paths = BrokerPaths.Resolve(new BrokerArgs(), NoEnv, BrokerPolicy.Default, "/src/spectrum/policies", "/src/spectrum");

        Assert.Equal("/src/spectrum/.state/tree", paths.Tree);
        Assert.Equal("/src/spectrum/.state/state", paths.StateDir);
        Assert.Equal("/src/spectrum/.state/run", paths.RuntimeDir);
        Assert.Equal("/src/spectrum/.state/run/broker.sock", paths.Socket);
        Assert.True(paths.DemoTree);
        Assert.Equal("/src/spectrum/policies", BrokerPaths.ResolvePolicies(new BrokerArgs(), NoEnv, "/src/spectrum"));
        var home = Environment.GetFolderPath(Environment.SpecialFolder.UserProfile);
        Assert.DoesNotContain(new[] { paths.Tree, paths.StateDir, paths.RuntimeDir, paths.Socket }, p => home.Length > 1 && p.StartsWith(home + "/", StringComparison.Ordinal));
    }

    [Fact]
    public void Resolve_Installed_UsesTheSystemPathsAndNeedsATree()
    {
        var e = Assert.Throws<BrokerStartupException>(() => BrokerPaths.Resolve(new BrokerArgs(), NoEnv, BrokerPolicy.Default, "/etc/spectrum/policies", checkout: null));
        Assert.Contains("--tree", e.Message, StringComparison.Ordinal);

        var paths = BrokerPaths.Resolve(new BrokerArgs { Tree = "/home/user" }, NoEnv, BrokerPolicy.Default, "/etc/spectrum/policies", checkout: null);
        Assert.Equal(("/home/user", "/var/lib/spectrum", "/run/spectrum", "/run/spectrum/broker.sock", false), (paths.Tree, paths.StateDir, paths.RuntimeDir, paths.Socket, paths.DemoTree));
        Assert.Equal("/etc/spectrum/policies", BrokerPaths.ResolvePolicies(new BrokerArgs(), NoEnv, checkout: null));
    }

    [Fact]
    public void Resolve_FlagsBeatEnvironmentWhichBeatsBrokerTomlWhichBeatsDefaults()
    {
        var env = new Dictionary<string, string?>
        {
            ["SPECTRUM_TREE"] = "/env/tree",
            ["SPECTRUM_STATE_DIR"] = "/env/state",
            ["SPECTRUM_SOCKET"] = "/env/sock",
        };
        var toml = BrokerPolicy.Default with { Tree = "/toml/tree", StateDir = "/toml/state", RuntimeDir = "/toml/run", Socket = "/toml/sock" };

        var paths = BrokerPaths.Resolve(new BrokerArgs { Tree = "/flag/tree" }, k => env.GetValueOrDefault(k), toml, "/p", "/src/spectrum");

        Assert.Equal(("/flag/tree", "/env/state", "/toml/run", "/env/sock"), (paths.Tree, paths.StateDir, paths.RuntimeDir, paths.Socket));
    }

    [Theory]
    [InlineData("--bogus")]
    [InlineData("--tree")]
    [InlineData("--tree=")]
    [InlineData("positional")]
    public void Parse_BadArgument_FailsWithOneLineNamingIt(string arg)
    {
        var e = Assert.Throws<ArgumentException>(() => BrokerArgs.Parse([arg]));
        Assert.Contains("--help", e.Message, StringComparison.Ordinal);
        Assert.DoesNotContain('\n', e.Message);
    }

    [Fact]
    public void Parse_AllFlags_InBothSpellings()
    {
        var args = BrokerArgs.Parse(["--tree", "/t", "--state-dir=/s", "--runtime-dir", "/r", "--policies=/p", "--socket", "/x.sock"]);
        Assert.Equal(("/t", "/s", "/r", "/p", "/x.sock"), (args.Tree, args.StateDir, args.RuntimeDir, args.Policies, args.Socket));
    }
}
