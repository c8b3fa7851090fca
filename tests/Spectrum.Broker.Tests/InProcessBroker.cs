using Microsoft.AspNetCore.Builder;
using Spectrum.Broker.Hosting;

namespace Spectrum.Broker.Tests;

/// <summary>
/// The real broker (real socket, SQLite file and views) hosted in this process, for the tests
/// that must hold its clock or read its services; everything else runs the daemon as a process
/// (<see cref="BrokerProcess"/>).
/// </summary>
internal sealed class InProcessBroker : IAsyncDisposable
{
    private bool _stopped;

    private InProcessBroker(WebApplication app, BrokerClient client)
    {
        App = app;
        Client = client;
    }

    public WebApplication App { get; }

    /// <summary>A client on the broker's socket.</summary>
    public BrokerClient Client { get; }

    public static async Task<InProcessBroker> StartAsync(TestDirs dirs, TimeProvider clock)
    {
        var app = BrokerHost.Build(
            new BrokerArgs { Tree = dirs.Tree, StateDir = dirs.State, RuntimeDir = dirs.Run, Policies = dirs.Policies },
            _ => null,
            clock);
        await app.StartAsync();
        return new InProcessBroker(app, new BrokerClient(dirs.Socket));
    }

    /// <summary>Stops the broker (its views unmount); idempotent.</summary>
    public async Task StopAsync()
    {
        if (!_stopped)
        {
            _stopped = true;
            await App.StopAsync();
        }
    }

    public async ValueTask DisposeAsync()
    {
        Client.Dispose();
        await StopAsync();
        await App.DisposeAsync();
    }
}
