using System.Diagnostics;
using Spectrum.Interop;
using static Spectrum.Broker.Tests.Views.ViewSecNative;

namespace Spectrum.Broker.Tests.Views;

/// <summary>
/// One real daemon (as root, mounting real views) for a class of view security tests. The tree's
/// root belongs to uid/gid 4242, so that "files created through a view belong to the tree owner"
/// is visible; denials are aggregated over 1 s and expiry is swept every second to keep the tests
/// fast. Each test takes its own VM and its own folders in the tree (<see cref="NewArea"/>).
/// </summary>
public sealed class ViewSecFixture : IAsyncLifetime
{
    public const uint TreeOwner = 4242;

    private int _areas;

    public TestDirs Dirs { get; } = new();

    public BrokerProcess Broker { get; private set; } = null!;

    public BrokerClient Client => Broker.Client;

    public async Task InitializeAsync()
    {
        Prepare(Dirs);
        Broker = await BrokerProcess.StartAsync(Dirs);
    }

    /// <summary>broker.toml with a 1 s deny interval and expiry sweep, and the tree root given to <see cref="TreeOwner"/>.</summary>
    public static void Prepare(TestDirs dirs)
    {
        File.WriteAllText(Path.Combine(dirs.Policies, "broker.toml"), "[audit]\ndeny_interval = \"1s\"\n\n[grants]\nexpiry_sweep = \"1s\"\n");
        Assert.Equal(Errno.OK, Chown(dirs.Tree, TreeOwner, TreeOwner));
    }

    public async Task DisposeAsync()
    {
        try
        {
            await Broker.StopAsync();
        }
        finally
        {
            await Broker.DisposeAsync();
            Dirs.Dispose();
        }
    }

    public string Host(string relative) => Path.Combine(Dirs.Tree, relative);

    public string View(string vm) => ViewPath(Dirs, vm);

    public static string ViewPath(TestDirs dirs, string vm) => Path.Combine(dirs.Run, "vm", vm, "view");

    /// <summary>
    /// A fresh top-level folder <c>NAME</c> in the tree (inside.txt, Work/notes.txt) and its ungranted
    /// sibling <c>NAME-private</c> (the same names, holding SECRET). Returns NAME.
    /// </summary>
    public string NewArea(string prefix)
    {
        var name = $"{prefix}{Interlocked.Increment(ref _areas)}";
        Dirs.Write($"{name}/inside.txt", "inside\n");
        Dirs.Write($"{name}/Work/notes.txt", "notes\n");
        Dirs.Write($"{name}-private/inside.txt", "SECRET\n");
        Dirs.Write($"{name}-private/Work/notes.txt", "SECRET\n");
        Dirs.Write($"{name}-private/notes.txt", "SECRET\n");
        return name;
    }

    /// <summary>Grants and waits until the VM's view is mounted and shows the grant.</summary>
    public async Task<GrantDto> GrantAsync(string vm, string path, string rights)
    {
        var created = await Client.GrantAsync(vm, path, rights);
        await WaitMountedAsync(Dirs, vm);
        var view = Path.Combine(View(vm), path);
        await WaitUntilAsync(() => LStat(view, out _) == Errno.OK, $"{path} to appear in the view of {vm}");
        return created.Grant;
    }

    /// <summary>Polls until the view of <paramref name="vm"/> is listed in /proc/self/mountinfo (up to 10 s).</summary>
    public static async Task WaitMountedAsync(TestDirs dirs, string vm)
    {
        var view = ViewPath(dirs, vm);
        await WaitUntilAsync(() => Directory.Exists(view) && MountCount(view) == 1, $"the view of {vm} to be mounted");
    }

    /// <summary>How many mounts /proc/self/mountinfo lists at exactly this path.</summary>
    public static int MountCount(string path) =>
        File.ReadAllLines("/proc/self/mountinfo").Count(line => line.Split(' ')[4] == path);

    public static async Task WaitUntilAsync(Func<bool> condition, string what, double seconds = 10)
    {
        var deadline = Stopwatch.StartNew();
        while (!condition())
        {
            Assert.True(deadline.Elapsed < TimeSpan.FromSeconds(seconds), $"timed out waiting for {what}");
            await Task.Delay(20);
        }
    }

    public static async Task WaitUntilAsync(Func<Task<bool>> condition, string what, double seconds = 10)
    {
        var deadline = Stopwatch.StartNew();
        while (!await condition())
        {
            Assert.True(deadline.Elapsed < TimeSpan.FromSeconds(seconds), $"timed out waiting for {what}");
            await Task.Delay(50);
        }
    }

    /// <summary>The deny records of one VM (after waiting a deny interval and some slack).</summary>
    public async Task<List<AuditRecordDto>> DenialsAsync(string vm, TimeSpan? wait = null)
    {
        await Task.Delay(wait ?? TimeSpan.FromSeconds(2.5));
        return [.. (await Client.AuditAsync()).Where(r => r.Action == "deny" && r.Vm == vm)];
    }
}
