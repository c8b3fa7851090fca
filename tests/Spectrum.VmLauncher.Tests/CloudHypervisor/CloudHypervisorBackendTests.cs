using System.Diagnostics;
using System.Globalization;
using System.Net.Sockets;
using Spectrum.VmLauncher.CloudHypervisor;

namespace Spectrum.VmLauncher.Tests.CloudHypervisor;

/// <summary>
/// The backend end to end on the real spawn path (posix_spawn, fd 3, waiter thread, signals),
/// against fake-cloud-hypervisor.c compiled here with gcc: Cloud Hypervisor itself cannot be
/// installed on these machines.
/// </summary>
public sealed class CloudHypervisorBackendTests : IDisposable
{
    private static readonly Lazy<string> FakeVmm = new(() => Compile());

    private readonly TempDir dir = new();

    public void Dispose() => dir.Dispose();

    private VmSpec Spec()
    {
        var kernel = dir["vmlinuz"];
        if (!File.Exists(kernel))
        {
            File.WriteAllBytes(kernel, CloudHypervisorConfigTests.FakeKernel("bz"));
        }

        return new VmSpec
        {
            Name = "editor",
            Kernel = kernel,
            SharedDirectory = dir["view"],
            RuntimeDirectory = dir["rt"],
        };
    }

    private static CloudHypervisorBackend Backend(string mode = "normal", string? executable = null) => new(new CloudHypervisorBackendOptions
    {
        Executable = executable ?? FakeVmm.Value,
        ExtraArguments = [$"--fake-mode={mode}"],
        Client = new CloudHypervisorClientOptions { RetryDelay = TimeSpan.FromMilliseconds(10), MaxRetryDelay = TimeSpan.FromMilliseconds(50) },
        StartTimeout = TimeSpan.FromSeconds(20),
    });

    private string VmmLog => File.ReadAllText(Path.Combine(dir["rt"], "vmm.log"));

    [Fact]
    public async Task Start_PassesTheBoundApiSocketAsFd3_ThenCreatesAndBootsWithASchemaValidConfig()
    {
        var spec = Spec();
        var backend = Backend();
        var vm = await backend.StartAsync(spec, Path.Combine(spec.RuntimeDirectory, "virtiofsd.sock"), CancellationToken.None);
        try
        {
            Assert.Equal(VmState.Running, vm.State);
            Assert.Contains($"fake-ch: pid {vm.Pid} serving fd 3", VmmLog, StringComparison.Ordinal);
            var create = VmmLog.Split('\n').Single(l => l.StartsWith("BODY vm.create ", StringComparison.Ordinal))["BODY vm.create ".Length..];
            Assert.Empty(OpenApiSchema.Instance.Validate(create, "VmConfig"));
            Assert.Contains("\"shared\":true", create, StringComparison.Ordinal);
            Assert.Equal(VmInfoState.Running, (await ((CloudHypervisorVm)vm).Client.GetVmInfoAsync()).State);
            Assert.Equal(["--api-socket", "fd=3", "--fake-mode=normal"], backend.Arguments);
        }
        finally
        {
            await backend.StopAsync(vm, TimeSpan.FromSeconds(10), CancellationToken.None);
        }

        var exit = await vm.Exited;
        Assert.Equal((VmExitReason.Stopped, 0), (exit.Reason, exit.ExitCode));
        Assert.Equal(VmState.Exited, vm.State);
        Assert.False(File.Exists(Path.Combine(spec.RuntimeDirectory, "vmm.sock")));
        Assert.Contains("fake-ch: vmm.shutdown", VmmLog, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Stop_VmmThatIgnoresShutdown_IsKilledAfterTheGracePeriod()
    {
        var spec = Spec();
        var backend = Backend("ignore-shutdown");
        var vm = await backend.StartAsync(spec, "virtiofsd.sock", CancellationToken.None);
        var watch = Stopwatch.StartNew();
        await backend.StopAsync(vm, TimeSpan.FromMilliseconds(500), CancellationToken.None);
        var exit = await vm.Exited;
        Assert.Equal((VmExitReason.Killed, 128 + 9), (exit.Reason, exit.ExitCode));
        Assert.InRange(watch.Elapsed, TimeSpan.FromMilliseconds(400), TimeSpan.FromSeconds(5));
        Assert.False(Directory.Exists($"/proc/{vm.Pid}"));
    }

    [Fact]
    public async Task GuestPowerOff_IsDetected_AndTheSocketsRemoved()
    {
        var spec = Spec();
        var vm = await Backend("poweroff").StartAsync(spec, "virtiofsd.sock", CancellationToken.None);
        var exit = await vm.Exited.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Equal((VmExitReason.GuestPoweredOff, 0), (exit.Reason, exit.ExitCode));
        Assert.False(File.Exists(Path.Combine(spec.RuntimeDirectory, "vmm.sock")));
        await Backend().StopAsync(vm, TimeSpan.FromSeconds(1), CancellationToken.None); // no-op once exited
    }

    [Fact]
    public async Task KilledVmm_IsDetectedAsACrash()
    {
        var vm = await Backend().StartAsync(Spec(), "virtiofsd.sock", CancellationToken.None);
        using (var process = Process.GetProcessById(vm.Pid))
        {
            process.Kill();
        }

        var exit = await vm.Exited.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Equal((VmExitReason.Crashed, 128 + 9), (exit.Reason, exit.ExitCode));
    }

    [Fact]
    public async Task VmmRefusesTheConfig_StartFails_AndNothingIsLeftRunning()
    {
        var spec = Spec();
        var e = await Assert.ThrowsAsync<VmLaunchException>(() => Backend("refuse-create").StartAsync(spec, "virtiofsd.sock", CancellationToken.None));
        Assert.Contains("vm.create (500)", e.Message, StringComparison.Ordinal);
        Assert.Contains("kernel not found", e.Message, StringComparison.Ordinal);
        Assert.DoesNotContain('\n', e.Message);

        var pid = int.Parse(VmmLog.Split(' ')[2], CultureInfo.InvariantCulture);
        Assert.False(Directory.Exists($"/proc/{pid}"));
        Assert.False(File.Exists(Path.Combine(spec.RuntimeDirectory, "vmm.sock")));
        Assert.Equal(1, VmmLog.Split('\n').Count(l => l.StartsWith("BODY vm.create", StringComparison.Ordinal)));
    }

    [Fact]
    public async Task MissingExecutable_SaysHowToFixIt()
    {
        var spec = Spec();
        var e = await Assert.ThrowsAsync<VmLaunchException>(() => Backend(executable: "cloud-hypervisor-not-installed-here").StartAsync(spec, "v.sock", CancellationToken.None));
        Assert.Contains("install Cloud Hypervisor", e.Message, StringComparison.Ordinal);
        Assert.False(File.Exists(Path.Combine(spec.RuntimeDirectory, "vmm.sock")));
    }

    [Fact]
    public async Task StaleApiSocket_IsReplaced_ButAFileThatIsNotASocketIsNot()
    {
        var spec = Spec();
        Directory.CreateDirectory(spec.RuntimeDirectory);
        var path = Path.Combine(spec.RuntimeDirectory, "vmm.sock");
        using (var stale = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified))
        {
            stale.Bind(new UnixDomainSocketEndPoint(path));
        }

        var backend = Backend();
        var vm = await backend.StartAsync(spec, "v.sock", CancellationToken.None);
        var second = await Assert.ThrowsAsync<VmLaunchException>(() => backend.StartAsync(spec, "v.sock", CancellationToken.None));
        Assert.Contains("served by a running VMM", second.Message, StringComparison.Ordinal);
        await backend.StopAsync(vm, TimeSpan.FromSeconds(10), CancellationToken.None);

        await File.WriteAllTextAsync(path, "not a socket");
        var e = await Assert.ThrowsAsync<VmLaunchException>(() => backend.StartAsync(spec, "v.sock", CancellationToken.None));
        Assert.Contains("is not a socket", e.Message, StringComparison.Ordinal);
        Assert.Equal("not a socket", await File.ReadAllTextAsync(path));
    }

    [Fact]
    public async Task WrongKernelFormat_IsRefusedBeforeAnythingStarts()
    {
        var spec = Spec() with { Arch = VmArch.Aarch64 };
        var e = await Assert.ThrowsAsync<VmLaunchException>(() => Backend().StartAsync(spec, "v.sock", CancellationToken.None));
        Assert.Contains("arm64 Image", e.Message, StringComparison.Ordinal);
        Assert.False(Directory.Exists(spec.RuntimeDirectory));
    }

    private static string Compile()
    {
        var source = Path.Combine(AppContext.BaseDirectory, "CloudHypervisor", "fake-cloud-hypervisor.c");
        var output = Path.Combine(Path.GetTempPath(), $"fake-cloud-hypervisor-{Environment.ProcessId}");
        using var gcc = Process.Start(new ProcessStartInfo("gcc", ["-O1", "-Wall", "-Werror", "-o", output, source]) { RedirectStandardError = true })!;
        var errors = gcc.StandardError.ReadToEnd();
        gcc.WaitForExit();
        return gcc.ExitCode == 0 ? output : throw new InvalidOperationException($"gcc failed: {errors}");
    }
}
