using System.Text.Json;
using System.Text.Json.Serialization.Metadata;

namespace Spectrum.Tests.Shared;

// Shared by the CLI test projects (linked into each by its csproj).

/// <summary>The CLI, run in-process against a live broker.</summary>
public static class LiveBrokerExtensions
{
    /// <summary>Runs the CLI under test with ARGS in-process against this broker's socket.</summary>
    public static Task<CliRun> RunAsync(this BrokerProcess broker, params string[] args) => CliRun.RunAsync(args, socket: broker.Dirs.Socket);

    /// <summary>Runs the CLI under test with ARGS --json, asserts success and decodes stdout.</summary>
    public static async Task<T> JsonAsync<T>(this BrokerProcess broker, JsonTypeInfo<T> type, params string[] args)
    {
        var run = await broker.RunAsync([.. args, "--json"]);
        run.AssertOk();
        return JsonSerializer.Deserialize(run.Stdout, type)!;
    }
}

/// <summary>A fresh scratch folder and a real broker on it, per test (start-up is well under a second).</summary>
public abstract class LiveBrokerTest : IAsyncLifetime
{
    protected TestDirs Dirs { get; } = new();

    protected BrokerProcess Broker { get; private set; } = null!;

    /// <summary>Runs the CLI under test with ARGS against the live broker.</summary>
    protected Task<CliRun> Cli(params string[] args) => Broker.RunAsync(args);

    /// <summary>Runs the CLI under test with ARGS and asserts exit 0 with an empty stderr.</summary>
    protected async Task<CliRun> OkAsync(params string[] args)
    {
        var run = await Broker.RunAsync(args);
        run.AssertOk();
        return run;
    }

    /// <summary>Called before the broker starts, to lay out policies or the tree.</summary>
    protected virtual void BeforeStart()
    {
    }

    public async Task InitializeAsync()
    {
        BeforeStart();
        Broker = await BrokerProcess.StartAsync(Dirs);
    }

    public async Task DisposeAsync()
    {
        await Broker.DisposeAsync();
        Dirs.Dispose();
    }
}
