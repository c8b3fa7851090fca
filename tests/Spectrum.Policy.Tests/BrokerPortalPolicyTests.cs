namespace Spectrum.Policy.Tests;

/// <summary>broker.toml's <c>[portal]</c> table: where the host's file dialog is.</summary>
public sealed class BrokerPortalPolicyTests : IDisposable
{
    private readonly PolicyDirectory dir = new();

    public void Dispose() => dir.Dispose();

    [Fact]
    public void Load_EveryPortalKey_Parsed()
    {
        dir.Write("broker.toml", """
            [portal]
            bus = "unix:path=/run/user/1000/bus"
            backend = "org.freedesktop.impl.portal.desktop.kde"
            command = ["/usr/local/bin/pick", "--title", "x y"]
            """);

        var broker = PolicyLoader.Load(dir.Path).Broker;

        Assert.Equal("unix:path=/run/user/1000/bus", broker.PortalBus);
        Assert.Equal("org.freedesktop.impl.portal.desktop.kde", broker.PortalBackend);
        Assert.Equal(["/usr/local/bin/pick", "--title", "x y"], broker.PortalCommand);
    }

    [Fact]
    public void Load_NoPortalTable_SessionBusGtkBackendNoCommand()
    {
        dir.Write("broker.toml", "[guest]\nuid = 1\n");

        var broker = PolicyLoader.Load(dir.Path).Broker;

        Assert.Null(broker.PortalBus);
        Assert.Equal("org.freedesktop.impl.portal.desktop.gtk", broker.PortalBackend);
        Assert.Empty(broker.PortalCommand);
    }

    [Fact]
    public void Load_SamePortalCommandTwice_EqualPolicies()
    {
        dir.Write("broker.toml", "[portal]\ncommand = [\"/bin/pick\", \"-m\"]\n");

        Assert.Equal(PolicyLoader.Load(dir.Path).Broker, PolicyLoader.Load(dir.Path).Broker);
    }

    [Fact]
    public void Load_EmptyPortalCommand_MeansNoCommand()
    {
        dir.Write("broker.toml", "[portal]\ncommand = []\n");

        Assert.Empty(PolicyLoader.Load(dir.Path).Broker.PortalCommand);
    }

    [Fact]
    public void Load_UnknownPortalKey_ReportsPosition()
    {
        dir.Write("broker.toml", "[portal]\nbackend = \"a.b\"\nbakend = \"a.b\"\n");

        Assert.Equal(new PolicyError(dir.File("broker.toml"), 3, 1,
            "unknown key 'bakend' in [portal]; known keys: backend, bus, command"), dir.Error());
    }

    [Theory]
    [InlineData("gtk")]
    [InlineData("org..gtk")]
    [InlineData("org.1gtk")]
    [InlineData(":1.42")]
    [InlineData("org.freedesktop.impl portal")]
    public void Load_BackendNotABusName_Reports(string backend)
    {
        dir.Write("broker.toml", $"[portal]\nbackend = \"{backend}\"\n");

        Assert.Equal(new PolicyError(dir.File("broker.toml"), 2, 11,
            $"'backend' in [portal] must be a D-Bus bus name such as \"org.freedesktop.impl.portal.desktop.gtk\", found '{backend}'"), dir.Error());
    }

    [Fact]
    public void Load_BackendLongerThan255_Reports()
    {
        var backend = "org." + new string('a', 252);
        dir.Write("broker.toml", $"[portal]\nbackend = \"{backend}\"\n");

        Assert.Contains("must be a D-Bus bus name", dir.Error().Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("")]
    [InlineData("/run/user/1000/bus")]
    public void Load_BusNotAnAddress_Reports(string bus)
    {
        dir.Write("broker.toml", $"[portal]\nbus = \"{bus}\"\n");

        Assert.Equal(new PolicyError(dir.File("broker.toml"), 2, 7,
            $"'bus' in [portal] must be a D-Bus address such as \"unix:path=/run/user/1000/bus\", found '{bus}'"), dir.Error());
    }

    [Fact]
    public void Load_RelativeCommandProgram_ReportsItsPosition()
    {
        dir.Write("broker.toml", "[portal]\ncommand = [\"zenity\", \"--file-selection\"]\n");

        Assert.Equal(new PolicyError(dir.File("broker.toml"), 2, 12,
            "'command' in [portal] must be an absolute path (starting with /), found 'zenity'"), dir.Error());
    }

    [Fact]
    public void Load_CommandNotAnArray_Reports()
    {
        dir.Write("broker.toml", "[portal]\ncommand = \"/usr/bin/zenity\"\n");

        Assert.Contains("an array of strings", dir.Error().Message, StringComparison.Ordinal);
    }
}
