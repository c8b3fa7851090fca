using System.Diagnostics;
using Spectrum.VmLauncher;

namespace Spectrum.Tests.Shared;

// Linked into the test projects that boot real guests (VmLauncher.Tests, Broker.Tests).

/// <summary>
/// The test guest (Debian cloud kernel + busybox initramfs), built once by tests/guest/build-guest.sh
/// into <c>$SPECTRUM_GUEST_DIR</c> (default /var/tmp/spectrum-guest) and reused while its inputs are unchanged.
/// </summary>
public sealed class GuestImage
{
    public GuestImage()
    {
        if (!QemuFactAttribute.Available)
        {
            return;
        }

        var dir = Environment.GetEnvironmentVariable("SPECTRUM_GUEST_DIR") ?? "/var/tmp/spectrum-guest";
        var script = Path.Combine(AppContext.BaseDirectory, "guest", "build-guest.sh");
        var info = new ProcessStartInfo("bash") { RedirectStandardOutput = true, RedirectStandardError = true };
        info.ArgumentList.Add(script);
        info.ArgumentList.Add(dir);
        using var build = Process.Start(info)!;
        var stderr = build.StandardError.ReadToEndAsync();
        build.StandardOutput.ReadToEnd();
        build.WaitForExit();
        if (build.ExitCode != 0)
        {
            throw new InvalidOperationException($"build-guest.sh failed ({build.ExitCode}): {stderr.Result}");
        }

        Kernel = Path.Combine(dir, "vmlinuz");
        Initramfs = Path.Combine(dir, "initramfs.img");
        Disk = Path.Combine(dir, "disk.img");
    }

    public string Kernel { get; } = string.Empty;

    public string Initramfs { get; } = string.Empty;

    /// <summary>A 1 MiB disk image of zeros, for the disks key.</summary>
    public string Disk { get; } = string.Empty;
}

/// <summary>
/// A fact that needs QEMU and virtiofsd. It is skipped only when they are not installed (CI
/// installs them); a guest that fails to boot is a failure, not a skip.
/// </summary>
public sealed class QemuFactAttribute : FactAttribute
{
    public QemuFactAttribute()
    {
        if (!Available)
        {
            Skip = "needs qemu-system-x86_64 and virtiofsd (apt-get install qemu-system-x86 busybox-static cpio)";
        }
    }

    public static bool Available { get; } =
        OperatingSystem.IsLinux() && Virtiofsd.FindBinary() is not null && OnPath("qemu-system-x86_64") && OnPath("apt-get");

    private static bool OnPath(string name) =>
        Spectrum.Interop.Executables.Find(name) is not null;
}
