using Spectrum.Interop;
using static Spectrum.Broker.Tests.Views.ViewPosixNative;

namespace Spectrum.Broker.Tests.Views;

/// <summary>
/// kill -9 leaves the views mounted with no server behind them. A broker restarted on the same
/// state and runtime folders clears those stale mounts and mounts fresh views: the same paths
/// serve the granted files again, with exactly one mount per view.
/// </summary>
public sealed class ViewCrashTests : IAsyncLifetime
{
    private readonly TestDirs _dirs = new();
    private BrokerProcess? _broker;

    private string View(string vm) => Path.Combine(_dirs.Run, "vm", vm, "view");

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync()
    {
        if (_broker is not null)
        {
            await _broker.DisposeAsync();
        }

        _dirs.Dispose();
    }

    [Fact]
    public async Task KillNine_ThenRestart_ViewsComeBackWithNoStaleMountLeftBehind()
    {
        _dirs.Policy("editor", "[[grant]]\npath = \"Documents\"\nrights = \"rw\"\n");
        _broker = await BrokerProcess.StartAsync(_dirs);
        // "viewer" is known only through a grant made over the API (stored, not in a policy).
        await _broker.Client.GrantAsync("viewer", "Pictures/wallpaper.png", "ro");
        var report = Path.Combine(View("editor"), "Documents", "report.odt");
        var wallpaper = Path.Combine(View("viewer"), "Pictures", "wallpaper.png");
        await WaitForMountAsync(View("editor"), TimeSpan.FromSeconds(10));
        await WaitForMountAsync(View("viewer"), TimeSpan.FromSeconds(10));
        Assert.Equal("report\n", await File.ReadAllTextAsync(report));
        Assert.Equal("png\n", await File.ReadAllTextAsync(wallpaper));

        for (var crash = 1; crash <= 2; crash++)
        {
            // A guest has a file open in the view when the broker dies.
            using var open = OpenOrFail(report, O_RDONLY);
            await _broker.KillHardAsync();
            await _broker.DisposeAsync();
            _broker = null;

            foreach (var vm in new[] { "editor", "viewer" })
            {
                Assert.Single(MountsAt(View(vm)));
                Assert.Equal(Errno.ENOTCONN, Lstat(View(vm), out _)); // stale: no server behind it
            }

            _broker = await BrokerProcess.StartAsync(_dirs);
            await WaitForMountAsync(View("editor"), TimeSpan.FromSeconds(10));
            await WaitForMountAsync(View("viewer"), TimeSpan.FromSeconds(10));

            Assert.Equal("report\n", await File.ReadAllTextAsync(report));
            Assert.Equal("png\n", await File.ReadAllTextAsync(wallpaper));
            await File.WriteAllTextAsync(Path.Combine(View("editor"), "Documents", $"after-crash-{crash}.txt"), "written");
            Assert.Equal("written", await File.ReadAllTextAsync(Path.Combine(_dirs.Tree, "Documents", $"after-crash-{crash}.txt")));
            foreach (var vm in new[] { "editor", "viewer" })
            {
                var mounts = MountsAt(View(vm));
                Assert.True(mounts.Count == 1, $"{vm}: {mounts.Count} mounts at {View(vm)}: {string.Join(", ", mounts)}");
                Assert.Equal("fuse.spectrum", mounts[0].FsType);
            }

            Assert.Equal(2, MountsAt(_dirs.Root, below: true).Count);
        }

        // A clean stop takes every view down.
        Assert.Equal(0, await _broker.StopAsync());
        Assert.Empty(MountsAt(_dirs.Root, below: true));
    }
}
