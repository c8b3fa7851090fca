using System.Diagnostics;
using Spectrum.VmLauncher.Qemu;

namespace Spectrum.VmLauncher.Tests;

/// <summary>
/// Real guests under QEMU TCG with a real virtiofsd over a plain host directory. Each boots in ~3 s;
/// the guest reports over the serial console with SPECTRUM-* lines, asserted line by line.
/// </summary>
public sealed class QemuGuestTests(GuestImage guest) : IClassFixture<GuestImage>, IDisposable
{
    private static readonly TimeSpan BootTimeout = TimeSpan.FromSeconds(30);

    private readonly DirectoryInfo root = Directory.CreateTempSubdirectory("spq-");
    private readonly VmSupervisor supervisor = new(new QemuBackend(new QemuOptions { Accelerator = QemuAccelerator.Auto }));

    private string Share => Path.Combine(root.FullName, "share");

    private string Runtime => Path.Combine(root.FullName, "run");

    // SPECTRUM_KEEP_TEST_VMS=1 keeps serial.log, qemu.log and virtiofsd.log for a post-mortem.
    public void Dispose()
    {
        if (Environment.GetEnvironmentVariable("SPECTRUM_KEEP_TEST_VMS") is null)
        {
            root.Delete(recursive: true);
        }
    }

    [QemuFact]
    public async Task Guest_ReadsAndWritesSharedDirectory_ThenPowersOff_AndEverythingIsCleanedUp()
    {
        Directory.CreateDirectory(Path.Combine(Share, "sub"));
        await File.WriteAllTextAsync(Path.Combine(Share, "hello.txt"), "hello from host\n");
        await File.WriteAllTextAsync(Path.Combine(Share, "sub", "nested.txt"), "nested\n");

        var vm = await supervisor.StartAsync(Spec("readwrite"), CancellationToken.None);
        var exit = await vm.Exited.WaitAsync(BootTimeout);

        Assert.Equal((VmExitReason.GuestPoweredOff, 0), (exit.Reason, exit.ExitCode));
        Assert.Equal(
            [
                "SPECTRUM-BOOT",
                "SPECTRUM-MOUNT PASS /run/virtiofs/virtiofs0",
                "SPECTRUM-CHECK list PASS hello.txt sub",
                "SPECTRUM-CHECK read PASS hello from host",
                "SPECTRUM-CHECK read-nested PASS nested",
                "SPECTRUM-CHECK write PASS guest.txt",
                "SPECTRUM-CHECK readback PASS written by guest",
                "SPECTRUM-DONE readwrite",
            ],
            await MarkersAsync());
        Assert.Equal("written by guest\n", await File.ReadAllTextAsync(Path.Combine(Share, "guest.txt")));
        AssertCleanedUp(vm);
    }

    [QemuFact]
    public async Task KillingQemu_IsDetectedAsCrash_AndVirtiofsdIsTornDown()
    {
        Directory.CreateDirectory(Share);
        var vm = await supervisor.StartAsync(Spec("idle"), CancellationToken.None);
        await WaitForMarkerAsync("SPECTRUM-IDLE");

        using (var qemu = Process.GetProcessById(vm.Vm.Pid))
        {
            qemu.Kill();
        }

        var exit = await vm.Exited.WaitAsync(BootTimeout);

        Assert.Equal((VmExitReason.Crashed, 128 + 9), (exit.Reason, exit.ExitCode));
        Assert.False(vm.VirtiofsdDied);
        AssertCleanedUp(vm);
    }

    [QemuFact]
    public async Task Stop_PressesThePowerButtonOverQmp_AndTheGuestPowersOff()
    {
        Directory.CreateDirectory(Share);
        var vm = await supervisor.StartAsync(Spec("idle"), CancellationToken.None);
        await WaitForMarkerAsync("SPECTRUM-IDLE");

        var exit = await vm.StopAsync(TimeSpan.FromSeconds(15), CancellationToken.None);

        Assert.Equal((VmExitReason.Stopped, 0), (exit.Reason, exit.ExitCode));
        Assert.Contains("SPECTRUM-POWERBUTTON", await MarkersAsync());
        AssertCleanedUp(vm);
    }

    [QemuFact]
    public async Task VirtiofsdDeath_KillsTheVm_AndIsReported()
    {
        Directory.CreateDirectory(Share);
        var vm = await supervisor.StartAsync(Spec("idle"), CancellationToken.None);
        await WaitForMarkerAsync("SPECTRUM-IDLE");

        using (var virtiofsd = Process.GetProcessById(vm.VirtiofsdPid))
        {
            virtiofsd.Kill();
        }

        var exit = await vm.Exited.WaitAsync(BootTimeout);

        Assert.True(vm.VirtiofsdDied, $"{exit}");
        // Killed by the supervisor, or QEMU noticed the lost backend first (Crashed).
        Assert.Contains(exit.Reason, (VmExitReason[])[VmExitReason.Killed, VmExitReason.Crashed]);
        AssertCleanedUp(vm);
    }

    private VmSpec Spec(string check) => new()
    {
        Name = "test",
        Kernel = guest.Kernel,
        Initramfs = guest.Initramfs,
        Cmdline = $"console=ttyS0 quiet panic=-1 spectrum.check={check}",
        MemoryBytes = 256L << 20,
        Vmm = VmmKind.Qemu,
        SharedDirectory = Share,
        RuntimeDirectory = Runtime,
    };

    // The kernel version after SPECTRUM-BOOT varies with the Debian package; keep the marker only.
    private async Task<string[]> MarkersAsync() =>
        (await File.ReadAllLinesAsync(Path.Combine(Runtime, "serial.log")))
            .Select(l => l.TrimEnd('\r'))
            .Select(l => l.IndexOf("SPECTRUM-", StringComparison.Ordinal) is var i and >= 0 ? l[i..] : null)
            .OfType<string>()
            .Select(l => l.StartsWith("SPECTRUM-BOOT ", StringComparison.Ordinal) ? "SPECTRUM-BOOT" : l)
            .ToArray();

    private async Task WaitForMarkerAsync(string prefix)
    {
        var serial = Path.Combine(Runtime, "serial.log");
        var deadline = Stopwatch.StartNew();
        while (deadline.Elapsed < BootTimeout)
        {
            if (File.Exists(serial) && (await MarkersAsync()).Any(m => m.StartsWith(prefix, StringComparison.Ordinal)))
            {
                return;
            }

            await Task.Delay(50);
        }

        Assert.Fail($"no {prefix} on the serial console within {BootTimeout}: {await File.ReadAllTextAsync(serial)}");
    }

    private void AssertCleanedUp(SupervisedVm vm)
    {
        Assert.Equal(VmState.Exited, vm.Vm.State);
        Assert.False(Directory.Exists($"/proc/{vm.Vm.Pid}"), "qemu still running");
        Assert.False(Directory.Exists($"/proc/{vm.VirtiofsdPid}"), "virtiofsd still running");
        Assert.Empty(Directory.GetFiles(Runtime, "*.sock"));
    }
}
