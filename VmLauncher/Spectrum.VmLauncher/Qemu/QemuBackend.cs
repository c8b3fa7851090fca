using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;

namespace Spectrum.VmLauncher.Qemu;

/// <summary>Which QEMU accelerator to use.</summary>
public enum QemuAccelerator
{
    /// <summary>KVM if a probe shows it can run a vCPU here, else TCG.</summary>
    Auto,

    /// <summary>Hardware virtualization.</summary>
    Kvm,

    /// <summary>Software emulation: slow (a test guest boots in ~3 s) but works everywhere.</summary>
    Tcg,
}

/// <summary>Options of <see cref="QemuBackend"/>.</summary>
public sealed record QemuOptions
{
    /// <summary>The QEMU binary; null means <c>qemu-system-x86_64</c> or <c>qemu-system-aarch64</c> from PATH.</summary>
    public string? Binary { get; init; }

    /// <summary>Default <see cref="QemuAccelerator.Auto"/>.</summary>
    public QemuAccelerator Accelerator { get; init; } = QemuAccelerator.Auto;

    /// <summary>How long QEMU may take to open its QMP socket and answer (default 10 s).</summary>
    public TimeSpan StartTimeout { get; init; } = TimeSpan.FromSeconds(10);
}

/// <summary>
/// Runs a guest under QEMU: shared memfd memory (vhost-user needs the guest RAM mapped by
/// virtiofsd), one <c>vhost-user-fs-pci</c> device with the VM's tag, the serial console to
/// <c>serial.log</c>, the portal as virtio-serial port <c>org.spectrum.portal</c> on
/// <c>portal.sock</c>, and QMP on <c>qmp.sock</c> for a graceful <c>system_powerdown</c>.
/// </summary>
public sealed class QemuBackend : IVmmBackend
{
    /// <summary>The virtio-serial port name the guest's portal forwarder opens (<c>/dev/virtio-ports/…</c>).</summary>
    public const string PortalPortName = "org.spectrum.portal";

    /// <summary>The chardev socket of the portal port in the VM's runtime directory; QEMU listens, the broker connects.</summary>
    public const string PortalSocketName = "portal.sock";

    private static readonly Dictionary<string, Lazy<bool>> KvmProbes = [];

    private readonly QemuOptions options;
    private readonly TimeProvider time;

    public QemuBackend(QemuOptions? options = null, TimeProvider? timeProvider = null)
    {
        this.options = options ?? new QemuOptions();
        time = timeProvider ?? TimeProvider.System;
    }

    /// <inheritdoc/>
    public VmmKind Kind => VmmKind.Qemu;

    /// <summary>The binary for <paramref name="arch"/> unless one was configured.</summary>
    public string BinaryFor(VmArch arch) =>
        options.Binary ?? (arch == VmArch.Aarch64 ? "qemu-system-aarch64" : "qemu-system-x86_64");

    /// <inheritdoc/>
    public async Task<RunningVm> StartAsync(VmSpec spec, string virtiofsdSocket, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(spec);
        ArgumentNullException.ThrowIfNull(virtiofsdSocket);
        CheckFiles(spec);
        var binary = BinaryFor(spec.Arch);
        var kvm = options.Accelerator switch
        {
            QemuAccelerator.Kvm => true,
            QemuAccelerator.Tcg => false,
            _ => KvmWorks(binary, spec.Arch),
        };
        var layout = new QemuLayout(spec.RuntimeDirectory);
        Directory.CreateDirectory(spec.RuntimeDirectory, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        layout.DeleteSockets();
        File.Delete(layout.Serial);

        var process = ChildProcess.Start(binary, BuildArguments(spec, virtiofsdSocket, kvm), Path.Combine(spec.RuntimeDirectory, "qemu.log"));
        var startedAt = time.GetUtcNow();
        try
        {
            // QMP answers only once machine init is done: the vhost-user connection is up and the
            // devices exist, so a bad configuration fails here rather than later.
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            timeout.CancelAfter(options.StartTimeout);
            await SocketWait.UntilExistsAsync(layout.Qmp, process, "QEMU", options.StartTimeout, timeout.Token).ConfigureAwait(false);
            await using (var qmp = await QmpClient.ConnectAsync(layout.Qmp, timeout.Token).ConfigureAwait(false))
            {
                (await qmp.ExecuteAsync("query-status", timeout.Token).ConfigureAwait(false)).Dispose();
            }
        }
        catch (Exception e) when (e is not VmLaunchException)
        {
            process.Kill();
            await process.Exited.ConfigureAwait(false);
            var tail = process.Tail();
            process.Dispose();
            layout.DeleteSockets();
            cancellationToken.ThrowIfCancellationRequested();
            throw new VmLaunchException($"QEMU did not come up for VM {spec.Name}: {e.Message} {tail}", e);
        }
        catch (VmLaunchException)
        {
            process.Kill();
            await process.Exited.ConfigureAwait(false);
            process.Dispose();
            layout.DeleteSockets();
            throw;
        }

        var vm = new QemuVm(spec, process, startedAt, layout);
        _ = WatchAsync(vm);
        return vm;
    }

    /// <inheritdoc/>
    public async Task StopAsync(RunningVm vm, TimeSpan graceful, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(vm);
        if (vm is not QemuVm qemu)
        {
            throw new ArgumentException("not a QEMU VM", nameof(vm));
        }

        qemu.MarkStopRequested();
        if (qemu.Exited.IsCompleted)
        {
            return;
        }

        if (graceful > TimeSpan.Zero)
        {
            try
            {
                using var connect = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
                connect.CancelAfter(graceful);
                await using var qmp = await QmpClient.ConnectAsync(qemu.Layout.Qmp, connect.Token).ConfigureAwait(false);
                (await qmp.ExecuteAsync("system_powerdown", connect.Token).ConfigureAwait(false)).Dispose();
                await qemu.Exited.WaitAsync(graceful, time, cancellationToken).ConfigureAwait(false);
                return;
            }
            catch (Exception e) when (e is TimeoutException or IOException or System.Net.Sockets.SocketException
                or OperationCanceledException && !cancellationToken.IsCancellationRequested)
            {
                // The guest ignored the power button, or QEMU is wedged: kill it below.
            }
        }

        qemu.Killed = true;
        qemu.Process.Kill();
        await qemu.Exited.WaitAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// The QEMU command line. Paths inside QEMU option lists have commas doubled; plain options
    /// (<c>-kernel</c>, <c>-initrd</c>, <c>-append</c>) take the path as is.
    /// </summary>
    public static IReadOnlyList<string> BuildArguments(VmSpec spec, string virtiofsdSocket, bool kvm)
    {
        ArgumentNullException.ThrowIfNull(spec);
        ArgumentNullException.ThrowIfNull(virtiofsdSocket);
        var layout = new QemuLayout(spec.RuntimeDirectory);
        // memory-backend size and -m must agree; QEMU wants whole MiB here.
        var mib = ((spec.MemoryBytes + (1 << 20) - 1) >> 20).ToString(CultureInfo.InvariantCulture) + "M";
        var args = new List<string> { "-name", "guest=" + Esc(spec.Name), "-no-user-config", "-nodefaults", "-nographic" };
        if (spec.Arch == VmArch.Aarch64)
        {
            // -M virt defaults to a 32-bit Cortex-A15; "max" (TCG) or "host" (KVM) is 64-bit.
            args.AddRange(["-M", "virt", "-cpu", kvm ? "host" : "max"]);
        }
        else if (kvm)
        {
            args.AddRange(["-cpu", "host"]);
        }

        args.AddRange(
        [
            "-accel", kvm ? "kvm" : "tcg",
            "-m", mib,
            "-smp", spec.Cpus.ToString(CultureInfo.InvariantCulture),
            // vhost-user: virtiofsd maps guest RAM, so it must be a shareable memfd.
            "-object", $"memory-backend-memfd,id=mem,size={mib},share=on",
            "-numa", "node,memdev=mem",
            "-chardev", $"socket,id=fs0,path={Esc(virtiofsdSocket)}",
            "-device", $"vhost-user-fs-pci,chardev=fs0,tag={Esc(spec.Tag)}",
            "-chardev", $"file,id=serial0,path={Esc(layout.Serial)}",
            "-serial", "chardev:serial0",
            "-monitor", "none",
            "-chardev", $"socket,id=qmp,path={Esc(layout.Qmp)},server=on,wait=off",
            "-mon", "chardev=qmp,mode=control",
            "-device", "virtio-serial-pci,id=vser0",
            "-chardev", $"socket,id=portal,path={Esc(layout.Portal)},server=on,wait=off",
            "-device", $"virtserialport,bus=vser0.0,chardev=portal,name={PortalPortName}",
            "-kernel", spec.Kernel,
        ]);
        if (spec.Initramfs is not null)
        {
            args.AddRange(["-initrd", spec.Initramfs]);
        }

        args.AddRange(["-append", spec.Cmdline]);
        foreach (var disk in spec.Disks)
        {
            args.AddRange(["-drive", $"file={Esc(disk)},format=raw,readonly=on,if=virtio"]);
        }

        // A guest reboot ends the VM: the broker decides whether to start it again.
        args.Add("-no-reboot");
        return args;
    }

    /// <summary>
    /// Whether KVM can actually run a vCPU with this binary: /dev/kvm may open yet QEMU abort when
    /// it sets up the vCPU (seen here: "failed to set MSR 0x10a" under a nested hypervisor). The
    /// probe starts a paused machine and quits it over QMP on stdio; cached per binary. On x86_64
    /// the processor must also offer hardware virtualization (vmx or svm): a /dev/kvm without it
    /// is a paravirtual KVM (seen here: kvm_pvm) that starts QEMU fine but runs only guest kernels
    /// built for it, and a stock kernel dies at its first privileged instruction ("KVM internal
    /// error", before the first console line).
    /// </summary>
    public static bool KvmWorks(string binary, VmArch arch)
    {
        if (!File.Exists("/dev/kvm") || (arch == VmArch.X86_64 && RuntimeInformation.OSArchitecture == Architecture.X64 && !HasHardwareVirtualization()))
        {
            return false;
        }

        Lazy<bool> probe;
        lock (KvmProbes)
        {
            var key = binary + "|" + arch;
            if (!KvmProbes.TryGetValue(key, out probe!))
            {
                probe = new Lazy<bool>(() => ProbeKvm(binary, arch));
                KvmProbes[key] = probe;
            }
        }

        return probe.Value;
    }

    /// <summary>Whether /proc/cpuinfo's flags name vmx (Intel VT-x) or svm (AMD-V).</summary>
    internal static bool HasHardwareVirtualization()
    {
        try
        {
            foreach (var line in File.ReadLines("/proc/cpuinfo"))
            {
                if (line.StartsWith("flags", StringComparison.Ordinal))
                {
                    var flags = line[(line.IndexOf(':', StringComparison.Ordinal) + 1)..].Split(' ', StringSplitOptions.RemoveEmptyEntries);
                    return flags.Contains("vmx") || flags.Contains("svm");
                }
            }
        }
        catch (IOException)
        {
        }

        return false;
    }

    private static bool ProbeKvm(string binary, VmArch arch)
    {
        var info = new ProcessStartInfo(binary)
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        string[] machine = arch == VmArch.Aarch64 ? ["-M", "virt"] : [];
        foreach (var arg in (string[])[.. machine, "-accel", "kvm", "-cpu", "host", "-nodefaults", "-display", "none", "-S", "-qmp", "stdio"])
        {
            info.ArgumentList.Add(arg);
        }

        try
        {
            using var process = Process.Start(info);
            if (process is null)
            {
                return false;
            }

            process.StandardInput.Write("{\"execute\":\"qmp_capabilities\"}\n{\"execute\":\"quit\"}\n");
            process.StandardInput.Close();
            var output = process.StandardOutput.ReadToEndAsync();
            var errors = process.StandardError.ReadToEndAsync();
            if (!process.WaitForExit(5000))
            {
                process.Kill();
                return false;
            }

            Task.WaitAll(output, errors);
            return process.ExitCode == 0;
        }
        catch (System.ComponentModel.Win32Exception)
        {
            return false;
        }
        catch (IOException)
        {
            // It exited before reading the commands (a broken pipe): no KVM from this binary.
            return false;
        }
    }

    private static void CheckFiles(VmSpec spec)
    {
        foreach (var file in (string?[])[spec.Kernel, spec.Initramfs, .. spec.Disks])
        {
            if (file is not null && !File.Exists(file))
            {
                throw new VmLaunchException($"VM {spec.Name}: {file} does not exist; fix the path in policies/vms/{spec.Name}.toml");
            }
        }
    }

    private static string Esc(string value) => value.Replace(",", ",,", StringComparison.Ordinal);

    private async Task WatchAsync(QemuVm vm)
    {
        var status = await vm.Process.Exited.ConfigureAwait(false);
        vm.Process.Dispose();
        vm.Layout.DeleteSockets();
        var reason = vm.Killed ? VmExitReason.Killed
            : vm.StopRequested ? VmExitReason.Stopped
            : status == 0 ? VmExitReason.GuestPoweredOff
            : VmExitReason.Crashed;
        vm.TrySetExited(new VmExit(reason, status, time.GetUtcNow()));
    }
}

/// <summary>A VM run by <see cref="QemuBackend"/>.</summary>
internal sealed class QemuVm(VmSpec spec, ChildProcess process, DateTimeOffset startedAt, QemuLayout layout)
    : RunningVm(spec, process.Pid, startedAt)
{
    public ChildProcess Process { get; } = process;

    public QemuLayout Layout { get; } = layout;

    public bool Killed { get; set; }
}

/// <summary>QEMU's files in the VM's runtime directory.</summary>
internal sealed record QemuLayout(string RuntimeDirectory)
{
    public string Qmp => Path.Combine(RuntimeDirectory, "qmp.sock");

    public string Portal => Path.Combine(RuntimeDirectory, QemuBackend.PortalSocketName);

    public string Serial => Path.Combine(RuntimeDirectory, "serial.log");

    /// <summary>QEMU unlinks its listening sockets on a clean exit, not when killed.</summary>
    public void DeleteSockets()
    {
        File.Delete(Qmp);
        File.Delete(Portal);
    }
}
