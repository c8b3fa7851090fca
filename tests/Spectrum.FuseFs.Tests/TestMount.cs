using System.Collections.Concurrent;

namespace Spectrum.FuseFs.Tests;

/// <summary>
/// A real FUSE mount of a <see cref="PassthroughFileSystem"/> over a fresh temporary directory,
/// under /tmp. Dispose always detaches the mount (umount2 MNT_DETACH), even after a failed test.
/// </summary>
internal sealed class TestMount : IDisposable
{
    private readonly string _base;

    public TestMount(FuseSessionOptions? options = null, Action<PassthroughFileSystem>? configure = null, FuseMountOptions? mountOptions = null)
    {
        _base = Directory.CreateTempSubdirectory("fusefs-test-").FullName;
        Backing = Directory.CreateDirectory(Path.Combine(_base, "backing")).FullName;
        MountPoint = Directory.CreateDirectory(Path.Combine(_base, "mnt")).FullName;
        FileSystem = new PassthroughFileSystem(Backing);
        configure?.Invoke(FileSystem);
        options ??= new FuseSessionOptions();
        options.Log = (message, exception) => Errors.Add($"{message}: {exception}");
        Session = new FuseSession(FileSystem, options);
        try
        {
            Session.Mount(MountPoint, mountOptions ?? new FuseMountOptions { Name = "spectrum-test" });
            if (!Session.Initialized.Wait(TimeSpan.FromSeconds(10)))
            {
                throw new TimeoutException("the kernel's INIT did not arrive");
            }
        }
        catch
        {
            Dispose();
            throw;
        }
    }

    public string Backing { get; }

    public string MountPoint { get; }

    public PassthroughFileSystem FileSystem { get; }

    public FuseSession Session { get; }

    public ConcurrentBag<string> Errors { get; } = [];

    public string this[string relative] => Path.Combine(MountPoint, relative);

    /// <summary>Evicts the kernel's dentries and inodes (drop_caches 2) until every forget has arrived or the time is up.</summary>
    public bool DropCachesUntilForgotten(TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (DateTime.UtcNow < deadline)
        {
            File.WriteAllText("/proc/sys/vm/drop_caches", "2");
            Thread.Sleep(50);
            if (Session.Statistics.LiveNodes == 0)
            {
                return true;
            }
        }

        return false;
    }

    public void Dispose()
    {
        // Detach first so nothing can block on the mount, then stop the session.
        Spectrum.Interop.Mount.Unmount(MountPoint, Spectrum.Interop.Mount.MNT_DETACH);
        Session.Dispose();
        try
        {
            Directory.Delete(_base, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}

/// <summary>
/// Tests that depend on what the kernel has cached, and tests that drop those caches system-wide
/// (drop_caches), must not run at the same time.
/// </summary>
[CollectionDefinition(Name)]
public sealed class KernelCaches
{
    public const string Name = "kernel caches";
}
