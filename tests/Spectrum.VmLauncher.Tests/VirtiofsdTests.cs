using Spectrum.VmLauncher.Qemu;

namespace Spectrum.VmLauncher.Tests;

public sealed class VirtiofsdTests : IDisposable
{
    private readonly DirectoryInfo root = Directory.CreateTempSubdirectory("spv-");

    public void Dispose() => root.Delete(recursive: true);

    [Theory]
    [InlineData(VirtiofsCache.Never, "never")]
    [InlineData(VirtiofsCache.Metadata, "metadata")]
    [InlineData(VirtiofsCache.Auto, "auto")]
    [InlineData(VirtiofsCache.Always, "always")]
    public void RustArguments_UseSharedDirAndCacheMode(VirtiofsCache cache, string mode)
    {
        var args = string.Join(' ', Virtiofsd.BuildArguments(VirtiofsdFlavor.Rust, "/r/virtiofsd.sock", "/r/view", cache, chroot: true));

        Assert.Equal($"--socket-path /r/virtiofsd.sock --shared-dir /r/view --cache {mode} --sandbox chroot", args);
    }

    [Theory]
    [InlineData(VirtiofsCache.Never, "none")]
    [InlineData(VirtiofsCache.Metadata, "auto")]
    [InlineData(VirtiofsCache.Auto, "auto")]
    [InlineData(VirtiofsCache.Always, "always")]
    public void CArguments_UseSourceOptionAndCacheMode(VirtiofsCache cache, string mode)
    {
        var args = string.Join(' ', Virtiofsd.BuildArguments(VirtiofsdFlavor.C, "/r/virtiofsd.sock", "/r/vi,ew", cache, chroot: false));

        Assert.Equal($"--socket-path=/r/virtiofsd.sock -o source=/r/vi\\,ew,cache={mode}", args);
    }

    [QemuFact]
    public async Task Start_ReplacesStaleSocket_AndDisposeRemovesProcessAndSocket()
    {
        var spec = Spec();
        Directory.CreateDirectory(spec.SharedDirectory);
        Directory.CreateDirectory(spec.RuntimeDirectory);
        await File.WriteAllTextAsync(Path.Combine(spec.RuntimeDirectory, Virtiofsd.SocketName), "stale");

        var virtiofsd = await Virtiofsd.StartAsync(spec);
        Assert.Equal(0, new FileInfo(virtiofsd.SocketPath).Length); // the socket, not the stale file
        Assert.True(Directory.Exists($"/proc/{virtiofsd.Pid}"));

        await virtiofsd.DisposeAsync();

        Assert.False(File.Exists(virtiofsd.SocketPath));
        Assert.False(Directory.Exists($"/proc/{virtiofsd.Pid}"));
    }

    [Fact]
    public async Task Start_MissingSharedDirectory_FailsWithTheFix()
    {
        var e = await Assert.ThrowsAsync<VmLaunchException>(() => Virtiofsd.StartAsync(Spec(), "/bin/true"));

        Assert.Contains("mount the VM's view first", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Start_BinaryThatExits_ReportsItsOutput()
    {
        var spec = Spec();
        Directory.CreateDirectory(spec.SharedDirectory);

        var e = await Assert.ThrowsAsync<VmLaunchException>(() => Virtiofsd.StartAsync(spec, "/bin/false"));

        Assert.Contains("exited with status 1 before creating", e.Message, StringComparison.Ordinal);
    }

    [QemuFact]
    public async Task Supervisor_VmmFailsToStart_LeavesNoVirtiofsd()
    {
        var spec = Spec() with { Kernel = "/nonexistent" };
        Directory.CreateDirectory(spec.SharedDirectory);

        await Assert.ThrowsAsync<VmLaunchException>(() => new VmSupervisor(new QemuBackend()).StartAsync(spec, CancellationToken.None));

        Assert.Empty(Directory.GetFiles(spec.RuntimeDirectory, "*.sock"));
    }

    private VmSpec Spec() => new()
    {
        Name = "t",
        Kernel = "/k",
        SharedDirectory = Path.Combine(root.FullName, "view"),
        RuntimeDirectory = Path.Combine(root.FullName, "run"),
    };
}
