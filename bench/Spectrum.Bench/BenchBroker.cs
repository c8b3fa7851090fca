using System.Diagnostics;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Spectrum.Broker.Hosting;

namespace Spectrum.Bench;

/// <summary>
/// A real broker, in this process, on a scratch folder of its own: <c>tree/</c>, <c>state/</c>,
/// <c>run/</c> and <c>policies/vms/</c>. The benchmarks that need a live view (revocation latency,
/// through a guest) fill the tree and the policies, then <see cref="StartAsync"/>; disposing stops
/// the broker (which unmounts its views) and deletes the folder.
/// </summary>
internal sealed class BenchBroker : IAsyncDisposable
{
    private WebApplication? app;

    /// <param name="prefix">Name prefix of the scratch folder.</param>
    /// <param name="parent">Where to make it; null means the system temp folder.</param>
    /// <param name="keep">Leave the scratch folder behind on dispose (logs, data set).</param>
    public BenchBroker(string prefix, string? parent = null, bool keep = false)
    {
        Root = parent is null
            ? Directory.CreateTempSubdirectory(prefix).FullName
            : CreateUnder(parent, prefix);
        Keep = keep;
        Directory.CreateDirectory(Tree);
        Directory.CreateDirectory(Path.Combine(Policies, "vms"));
    }

    public string Root { get; }

    public bool Keep { get; }

    public string Tree => Path.Combine(Root, "tree");

    public string StateDir => Path.Combine(Root, "state");

    public string RuntimeDir => Path.Combine(Root, "run");

    public string Policies => Path.Combine(Root, "policies");

    /// <summary>The running broker's services (after <see cref="StartAsync"/>).</summary>
    public BrokerServices Services => app?.Services.GetRequiredService<BrokerServices>()
        ?? throw new InvalidOperationException("the broker is not started");

    /// <summary>Writes <c>policies/vms/VM.toml</c>; before <see cref="StartAsync"/> it makes the VM known at start.</summary>
    public void Policy(string vm, string toml) => File.WriteAllText(Path.Combine(Policies, "vms", vm + ".toml"), toml);

    /// <summary>The mount point of <paramref name="vm"/>'s view: <c>run/vm/VM/view</c>.</summary>
    public string View(string vm) => Services.Views!.MountPoint(vm);

    /// <summary>Starts the broker: no logging, no environment (SPECTRUM_* of the caller must not leak in) unless given.</summary>
    /// <param name="env">What the broker reads as its environment (SPECTRUM_QEMU, …); null is an empty one.</param>
    /// <param name="logging">Logging set up after the console is cleared (a probe that watches for a message); null logs nothing.</param>
    public async Task StartAsync(Func<string, string?>? env = null, Action<ILoggingBuilder>? logging = null)
    {
        app = BrokerHost.Build(
            new BrokerArgs { Tree = Tree, StateDir = StateDir, RuntimeDir = RuntimeDir, Policies = Policies },
            env ?? (_ => null),
            TimeProvider.System,
            builder =>
            {
                builder.ClearProviders();
                logging?.Invoke(builder);
            });
        await app.StartAsync().ConfigureAwait(false);
    }

    /// <summary>Waits until <paramref name="relative"/> shows in <paramref name="vm"/>'s view (the views mount right after start).</summary>
    public async Task<string> WaitForViewAsync(string vm, string relative, TimeSpan timeout)
    {
        var path = Path.Combine(View(vm), relative);
        var watch = Stopwatch.StartNew();
        while (!Path.Exists(path))
        {
            if (watch.Elapsed > timeout)
            {
                throw new InvalidOperationException($"{relative} did not appear in VM {vm}'s view at {View(vm)} within {timeout.TotalSeconds:0} s");
            }

            await Task.Delay(10).ConfigureAwait(false);
        }

        return path;
    }

    public async ValueTask DisposeAsync()
    {
        if (app is not null)
        {
            await app.StopAsync().ConfigureAwait(false);
            await app.DisposeAsync().ConfigureAwait(false);
            app = null;
        }

        // Never recurse into a mount (a view left mounted would forward the deletes to the tree).
        if (!Keep && !File.ReadLines("/proc/self/mountinfo").Any(l => l.Split(' ')[4].StartsWith(Root + "/", StringComparison.Ordinal)))
        {
            Directory.Delete(Root, recursive: true);
        }
    }

    private static string CreateUnder(string parent, string prefix)
    {
        var path = Path.Combine(Path.GetFullPath(parent), prefix + Path.GetRandomFileName().Replace(".", string.Empty, StringComparison.Ordinal));
        Directory.CreateDirectory(path, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        return path;
    }
}
