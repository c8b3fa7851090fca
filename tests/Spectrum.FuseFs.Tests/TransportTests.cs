using Spectrum.Interop;

namespace Spectrum.FuseFs.Tests;

/// <summary>Mounting, unmounting, stale-mount cleanup, the fusermount3 path and kernel passthrough.</summary>
[Collection(KernelCaches.Name)]
public sealed class TransportTests
{
    [Fact]
    public void CleanupStale_MountWhoseServerDied_IsDetached()
    {
        var directory = Directory.CreateTempSubdirectory("fusefs-stale-").FullName;
        try
        {
            // A "crashed broker": mounted, then the /dev/fuse fd closed without unmounting.
            var fd = FuseDevice.Open();
            FuseDevice.Mount(fd, directory, "spectrum-test", "", Mount.MS_NOSUID | Mount.MS_NODEV);
            fd.Dispose();
            Assert.Equal(FuseErrno.ENOTCONN, Mount.Probe(directory));
            Assert.Equal("fuse.spectrum-test", FuseMount.FindMounts(directory).Single().FsType);

            Assert.Equal(0, FuseMount.CleanupStale(directory, "someone-else"));
            Assert.Equal(1, FuseMount.CleanupStale(directory, "spectrum-test"));
            Assert.Empty(FuseMount.FindMounts(directory));
            Assert.Equal(Errno.OK, Mount.Probe(directory));
        }
        finally
        {
            Mount.Unmount(directory, Mount.MNT_DETACH);
            Directory.Delete(directory);
        }
    }

    [Fact]
    public void CleanupStale_LiveMount_IsLeftAlone()
    {
        using var mount = new TestMount();
        Assert.Equal(0, FuseMount.CleanupStale(mount.MountPoint, "spectrum-test"));
        Assert.Single(FuseMount.FindMounts(mount.MountPoint));
    }

    [Fact]
    public async Task Dispose_Unmounts_AndTheReadersStop()
    {
        var mount = new TestMount();
        File.WriteAllText(mount["f"], "x");
        mount.Session.Dispose();
        await mount.Session.Completion.WaitAsync(TimeSpan.FromSeconds(5));
        Assert.Empty(FuseMount.FindMounts(mount.MountPoint));
        mount.Dispose();
    }

    [Fact]
    public async Task Dispose_WhileAFileIsOpen_AbortsTheLazilyDetachedConnection()
    {
        var mount = new TestMount();
        using var open = File.OpenRead(WriteThrough(mount));
        await Task.Run(mount.Session.Dispose).WaitAsync(TimeSpan.FromSeconds(10));
        Assert.True(mount.Session.Completion.IsCompleted, "the readers are still blocked");
        mount.Dispose();
    }

    [Fact]
    public void Fusermount3_UnprivilegedPath_MountsServesAndUnmounts()
    {
        if (FuseUserMount.FindHelper() is null)
        {
            return; // fuse3 not installed: nothing to test (the Makefile installs it)
        }

        using var mount = new TestMount(mountOptions: new FuseMountOptions { Name = "spectrum-test", ForceFusermount = true, AllowOther = false });
        Assert.Equal("fuse.spectrum-test", FuseMount.FindMounts(mount.MountPoint).Single().FsType);
        File.WriteAllText(mount["via-helper"], "hello");
        Assert.Equal("hello", File.ReadAllText(Path.Combine(mount.Backing, "via-helper")));
        mount.Session.Dispose();
        Assert.Empty(FuseMount.FindMounts(mount.MountPoint));
    }

    [Fact]
    public void Passthrough_WhenNegotiated_ReadsBypassTheFilesystem()
    {
        using var mount = new TestMount(new FuseSessionOptions { Passthrough = true }, fs => fs.UsePassthrough = true);
        if ((mount.Session.Connection.KernelFlags & FuseInitFlags.Passthrough) == 0)
        {
            return; // a kernel without FUSE passthrough
        }

        Assert.True(mount.Session.Connection.Passthrough);
        var data = new byte[1 << 20];
        Random.Shared.NextBytes(data);
        File.WriteAllBytes(Path.Combine(mount.Backing, "p.bin"), data);
        Assert.Equal(data, File.ReadAllBytes(mount["p.bin"]));
        File.WriteAllBytes(mount["q.bin"], data);
        Assert.Equal(data, File.ReadAllBytes(Path.Combine(mount.Backing, "q.bin")));
        Assert.Equal(0, Interlocked.Read(ref mount.FileSystem.Reads));
        Assert.Empty(mount.Errors);
    }

    [Fact]
    public void Passthrough_ConcurrentOpensOfOneInode_ShareOneBackingId()
    {
        using var mount = new TestMount(new FuseSessionOptions { Passthrough = true }, fs => fs.UsePassthrough = true);
        if (!mount.Session.Connection.Passthrough)
        {
            return;
        }

        File.WriteAllText(Path.Combine(mount.Backing, "shared"), "data");
        using (var first = File.OpenRead(mount["shared"]))
        {
            // A second open answered with another backing id would fail with EIO.
            Assert.Equal("data", File.ReadAllText(mount["shared"]));
            Assert.Equal(1, mount.FileSystem.Backings!.Count);
        }

        Assert.True(SpinWait.SpinUntil(() => mount.FileSystem.Backings!.Count == 0, TimeSpan.FromSeconds(5)), "the last release did not close the id");
        Assert.Equal(0, Interlocked.Read(ref mount.FileSystem.Reads));
    }

    private static string WriteThrough(TestMount mount)
    {
        File.WriteAllText(mount["held"], "x");
        return mount["held"];
    }
}
