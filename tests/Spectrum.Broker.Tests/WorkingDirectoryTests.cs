using System.Net;
using System.Net.Sockets;

namespace Spectrum.Broker.Tests;

/// <summary>
/// The broker takes its configuration from its arguments, its environment and its policies, never
/// from the directory it happens to be started in (an appsettings.json there could add a TCP
/// endpoint to a root daemon, or stop it from starting).
/// </summary>
public sealed class WorkingDirectoryTests : IDisposable
{
    private readonly TestDirs _dirs = new();

    public void Dispose() => _dirs.Dispose();

    private string WorkingDirectory(string appsettings)
    {
        var cwd = Path.Combine(_dirs.Root, "cwd");
        Directory.CreateDirectory(cwd);
        File.WriteAllText(Path.Combine(cwd, "appsettings.json"), appsettings);
        return cwd;
    }

    [Fact]
    public async Task MalformedAppsettingsInTheWorkingDirectory_IsNotRead_TheBrokerStartsAndServes()
    {
        var info = BrokerProcess.StartInfo(_dirs);
        info.WorkingDirectory = WorkingDirectory("{ \"Logging\": ");

        await using var broker = await BrokerProcess.StartAsync(_dirs, info);

        var granted = await broker.Client.GrantAsync("editor", "Documents", "rw");
        Assert.Equal("editor", granted.Grant.Vm);
        Assert.Equal(0, await broker.StopAsync());
    }

    [Fact]
    public async Task KestrelEndpointInTheWorkingDirectory_IsNotOpened()
    {
        using var probe = new TcpListener(IPAddress.Loopback, 0);
        probe.Start();
        var port = ((IPEndPoint)probe.LocalEndpoint).Port;
        probe.Stop(); // a free port, which the broker would now take if it read the file

        var info = BrokerProcess.StartInfo(_dirs);
        info.WorkingDirectory = WorkingDirectory($$"""{ "Kestrel": { "Endpoints": { "Http": { "Url": "http://127.0.0.1:{{port}}" } } } }""");

        await using var broker = await BrokerProcess.StartAsync(_dirs, info);

        using var client = new TcpClient();
        var refused = await Assert.ThrowsAsync<SocketException>(() => client.ConnectAsync(IPAddress.Loopback, port));
        Assert.Equal(SocketError.ConnectionRefused, refused.SocketErrorCode);
        Assert.DoesNotContain($"127.0.0.1:{port}", broker.Output, StringComparison.Ordinal); // Kestrel logs "Now listening on: http://..."
    }
}
