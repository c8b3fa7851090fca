using Spectrum.VmLauncher.Qemu;

namespace Spectrum.VmLauncher.Tests;

public class QemuBackendTests
{
    private static readonly VmSpec Spec = new()
    {
        Name = "editor",
        Kernel = "/k/vmlinuz",
        Initramfs = "/k/initrd",
        Cmdline = "console=ttyS0 quiet",
        Disks = ["/d/root,1.img"],
        MemoryBytes = 300L << 20,
        Cpus = 2,
        Vmm = VmmKind.Qemu,
        SharedDirectory = "/run/spectrum/vm/editor/view",
        RuntimeDirectory = "/run/spectrum/vm/editor",
    };

    [Fact]
    public void Arguments_ShareMemfdMemory_WithTheVirtiofsDevice()
    {
        var args = Join(QemuBackend.BuildArguments(Spec, "/run/spectrum/vm/editor/virtiofsd.sock", kvm: false));

        Assert.Contains("-object memory-backend-memfd,id=mem,size=300M,share=on -numa node,memdev=mem -m 300M", Reordered(args));
        Assert.Contains("-chardev socket,id=fs0,path=/run/spectrum/vm/editor/virtiofsd.sock -device vhost-user-fs-pci,chardev=fs0,tag=virtiofs0", args);
        Assert.Contains("-smp 2", args);
    }

    [Fact]
    public void Arguments_Tcg_HasSerialLogPortalQmpAndNoReboot()
    {
        var args = Join(QemuBackend.BuildArguments(Spec, "/s", kvm: false));

        Assert.Contains("-accel tcg", args);
        Assert.DoesNotContain("-cpu host", args);
        Assert.Contains("-chardev file,id=serial0,path=/run/spectrum/vm/editor/serial.log -serial chardev:serial0", args);
        Assert.Contains("-chardev socket,id=qmp,path=/run/spectrum/vm/editor/qmp.sock,server=on,wait=off -mon chardev=qmp,mode=control", args);
        Assert.Contains("-chardev socket,id=portal,path=/run/spectrum/vm/editor/portal.sock,server=on,wait=off -device virtserialport,bus=vser0.0,chardev=portal,name=org.spectrum.portal", args);
        Assert.Contains("-kernel /k/vmlinuz -initrd /k/initrd -append console=ttyS0 quiet", args);
        Assert.EndsWith("-no-reboot", args, StringComparison.Ordinal);
    }

    [Fact]
    public void Arguments_Disks_AreReadOnlyVirtio_WithCommasEscaped()
    {
        var args = Join(QemuBackend.BuildArguments(Spec, "/s", kvm: false));

        Assert.Contains("-drive file=/d/root,,1.img,format=raw,readonly=on,if=virtio", args);
    }

    [Fact]
    public void Arguments_Kvm_UsesHostCpu()
    {
        var args = Join(QemuBackend.BuildArguments(Spec, "/s", kvm: true));

        Assert.Contains("-cpu host -accel kvm", args);
    }

    [Fact]
    public void Arguments_Aarch64_UsesVirtMachineWith64BitCpu()
    {
        var spec = Spec with { Arch = VmArch.Aarch64, Cmdline = "console=ttyAMA0" };

        Assert.StartsWith("-name guest=editor -no-user-config -nodefaults -nographic -M virt -cpu max -accel tcg", Join(QemuBackend.BuildArguments(spec, "/s", kvm: false)), StringComparison.Ordinal);
        Assert.Equal("qemu-system-aarch64", new QemuBackend().BinaryFor(VmArch.Aarch64));
        Assert.Equal("qemu-system-x86_64", new QemuBackend().BinaryFor(VmArch.X86_64));
    }

    [Fact]
    public async Task Start_MissingKernel_NamesTheFileAndThePolicy()
    {
        var e = await Assert.ThrowsAsync<VmLaunchException>(() => new QemuBackend().StartAsync(Spec with { Kernel = "/nonexistent/vmlinuz" }, "/s", CancellationToken.None));

        Assert.Contains("/nonexistent/vmlinuz does not exist", e.Message, StringComparison.Ordinal);
        Assert.Contains("policies/vms/editor.toml", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task RunningVm_State_FollowsStopAndExit()
    {
        var vm = new RunningVm(Spec, 42, DateTimeOffset.UnixEpoch);
        Assert.Equal(VmState.Running, vm.State);
        Assert.True(vm.MarkStopRequested());
        Assert.False(vm.MarkStopRequested());
        Assert.Equal(VmState.Stopping, vm.State);
        Assert.True(vm.TrySetExited(new VmExit(VmExitReason.Stopped, 0, DateTimeOffset.UnixEpoch)));
        Assert.False(vm.TrySetExited(new VmExit(VmExitReason.Crashed, 1, DateTimeOffset.UnixEpoch)));
        Assert.Equal((VmState.Exited, VmExitReason.Stopped), (vm.State, (await vm.Exited).Reason));
    }

    private static string Join(IReadOnlyList<string> args) => string.Join(' ', args);

    // -m comes before -object on the real command line; this checks the three agree on the size.
    private static string Reordered(string args)
    {
        var m = args.IndexOf("-m 300M", StringComparison.Ordinal);
        var obj = args.IndexOf("-object", StringComparison.Ordinal);
        Assert.True(m >= 0 && obj > m);
        return args[obj..args.IndexOf(" -chardev", obj, StringComparison.Ordinal)] + " -m 300M";
    }
}
