using System.Text;

namespace Spectrum.VmLauncher.CloudHypervisor;

/// <summary>
/// The per-VM runtime layout (DESIGN.md, "Runtime layout") as Cloud Hypervisor sees it: every
/// socket and log lives in <see cref="VmSpec.RuntimeDirectory"/>.
/// </summary>
public static class CloudHypervisorLayout
{
    /// <summary>The API socket the broker binds before Cloud Hypervisor starts.</summary>
    public const string ApiSocketName = "vmm.sock";

    /// <summary>virtiofsd's vhost-user-fs socket.</summary>
    public const string VirtiofsdSocketName = "virtiofsd.sock";

    /// <summary>The hybrid vsock socket (host-initiated connections).</summary>
    public const string PortalSocketName = "portal.sock";

    /// <summary>The guest's serial console.</summary>
    public const string SerialLogName = "serial.log";

    /// <summary>Cloud Hypervisor's own stdout and stderr.</summary>
    public const string VmmLogName = "vmm.log";

    /// <summary>
    /// The vsock port the guest's portal client connects to. With hybrid vsock Cloud Hypervisor
    /// forwards it to the host Unix socket <c>portal.sock_219</c>, where the broker listens.
    /// </summary>
    public const uint PortalVsockPort = 219;

    /// <summary>The guest CID. Hybrid vsock is proxied in userspace, so every guest may use 3.</summary>
    public const long GuestCid = 3;

    /// <summary>Cloud Hypervisor's limit on a virtio-fs tag (the virtio spec's 36-byte <c>tag</c> field).</summary>
    public const int MaxTagBytes = 36;

    public static string ApiSocket(VmSpec spec) => Path.Combine(Dir(spec), ApiSocketName);

    public static string VirtiofsdSocket(VmSpec spec) => Path.Combine(Dir(spec), VirtiofsdSocketName);

    public static string PortalSocket(VmSpec spec) => Path.Combine(Dir(spec), PortalSocketName);

    /// <summary>Where the broker listens for the guest's portal connections: <c>portal.sock_219</c>.</summary>
    public static string PortalListenSocket(VmSpec spec) =>
        PortalSocket(spec) + "_" + PortalVsockPort.ToString(System.Globalization.CultureInfo.InvariantCulture);

    public static string SerialLog(VmSpec spec) => Path.Combine(Dir(spec), SerialLogName);

    public static string VmmLog(VmSpec spec) => Path.Combine(Dir(spec), VmmLogName);

    private static string Dir(VmSpec spec) => Path.GetFullPath(spec.RuntimeDirectory);
}

/// <summary>Why a <see cref="VmSpec"/> cannot become a Cloud Hypervisor <see cref="VmConfig"/>.</summary>
public sealed class CloudHypervisorConfigException : Exception
{
    public CloudHypervisorConfigException()
    {
    }

    public CloudHypervisorConfigException(string message)
        : base(message)
    {
    }

    public CloudHypervisorConfigException(string message, Exception inner)
        : base(message, inner)
    {
    }
}

/// <summary>Builds the <c>vm.create</c> body for a <see cref="VmSpec"/>.</summary>
public static class CloudHypervisorConfig
{
    /// <summary>virtio-fs request queues: one is what virtiofsd serves (it has no multiqueue).</summary>
    public const int FsNumQueues = 1;

    /// <summary>The schema's default queue depth for virtio-fs.</summary>
    public const int FsQueueSize = 1024;

    /// <summary>
    /// The VmConfig for <paramref name="spec"/>: direct kernel boot, one virtio-fs device (the
    /// view) on virtiofsd's socket with shared guest memory, read-only disks, the serial port to
    /// <c>serial.log</c> with the virtio-console off, and the hybrid vsock for the portal.
    /// Pure: touches no file (see <see cref="KernelImage.Check"/> for the kernel's format).
    /// </summary>
    /// <exception cref="CloudHypervisorConfigException">The spec cannot be expressed (tag too long, no CPUs…).</exception>
    /// <param name="spec">The VM.</param>
    /// <param name="virtiofsdSocket">virtiofsd's vhost-user socket; by default <c>virtiofsd.sock</c> in the runtime directory.</param>
    public static VmConfig Build(VmSpec spec, string? virtiofsdSocket = null)
    {
        ArgumentNullException.ThrowIfNull(spec);
        ValidateTag(spec.Tag);
        if (spec.Cpus < 1)
        {
            throw new CloudHypervisorConfigException($"VM '{spec.Name}': cpus is {spec.Cpus}; set cpus to 1 or more.");
        }

        // Guest RAM is mapped in whole pages (hugepages are 2 MiB); whole MiB keeps every backing valid.
        if (spec.MemoryBytes < 1 << 20 || spec.MemoryBytes % (1 << 20) != 0)
        {
            throw new CloudHypervisorConfigException($"VM '{spec.Name}': memory is {spec.MemoryBytes} bytes; use a whole number of MiB, at least 1 MiB.");
        }

        FsConfig[] fs = [Fs(spec, virtiofsdSocket)];
        return new VmConfig
        {
            Payload = new PayloadConfig
            {
                Kernel = Path.GetFullPath(spec.Kernel),
                Initramfs = spec.Initramfs is null ? null : Path.GetFullPath(spec.Initramfs),
                Cmdline = Cmdline(spec),
            },
            Cpus = new CpusConfig { BootVcpus = spec.Cpus, MaxVcpus = spec.Cpus },

            // vhost-user devices (virtiofsd) map guest RAM from a shared memfd; with private
            // memory the device cannot see guest buffers and the mount hangs.
            Memory = new MemoryConfig { Size = spec.MemoryBytes, Shared = fs.Length > 0 ? true : null },
            Disks = spec.Disks.Count == 0 ? null : [.. spec.Disks.Select(Disk)],
            Fs = fs,

            // x86_64: the 8250 at COM1 (ttyS0). aarch64: the PL011 (ttyAMA0); Cloud Hypervisor has no
            // 8250 there. Either way --serial drives it, and the virtio-console (hvc0) is switched off
            // so the kernel's console lands in one file.
            Serial = new SerialConfig { Mode = ConsoleMode.File, File = CloudHypervisorLayout.SerialLog(spec) },
            Console = new ConsoleConfig { Mode = ConsoleMode.Off },
            Vsock = new VsockConfig { Cid = CloudHypervisorLayout.GuestCid, Socket = CloudHypervisorLayout.PortalSocket(spec) },
        };
    }

    /// <summary>The virtio-fs device for the VM's view (also the body of a <c>vm.add-fs</c>).</summary>
    public static FsConfig Fs(VmSpec spec, string? virtiofsdSocket = null)
    {
        ArgumentNullException.ThrowIfNull(spec);
        ValidateTag(spec.Tag);
        return new FsConfig
        {
            Tag = spec.Tag,
            Socket = virtiofsdSocket is null ? CloudHypervisorLayout.VirtiofsdSocket(spec) : Path.GetFullPath(virtiofsdSocket),
            NumQueues = FsNumQueues,
            QueueSize = FsQueueSize,
        };
    }

    /// <summary>Refuses an empty tag or one longer than 36 bytes of UTF-8 (the virtio-fs config space field).</summary>
    public static void ValidateTag(string tag)
    {
        ArgumentNullException.ThrowIfNull(tag);
        var bytes = Encoding.UTF8.GetByteCount(tag);
        if (bytes == 0)
        {
            throw new CloudHypervisorConfigException("virtio-fs tag is empty; set a tag such as 'virtiofs0'.");
        }

        if (bytes > CloudHypervisorLayout.MaxTagBytes)
        {
            throw new CloudHypervisorConfigException(
                $"virtio-fs tag '{tag}' is {bytes} bytes; Cloud Hypervisor allows at most {CloudHypervisorLayout.MaxTagBytes}: shorten the tag.");
        }
    }

    /// <summary>
    /// The kernel command line. VmSpec's default names <c>ttyS0</c>, which does not exist on
    /// aarch64 guests of Cloud Hypervisor (the serial port is a PL011, <c>ttyAMA0</c>), so there
    /// a <c>console=ttyS0…</c> argument is rewritten rather than silently losing the log.
    /// </summary>
    internal static string Cmdline(VmSpec spec)
    {
        if (spec.Arch != VmArch.Aarch64)
        {
            return spec.Cmdline;
        }

        var args = spec.Cmdline.Split(' ', StringSplitOptions.RemoveEmptyEntries);
        for (var i = 0; i < args.Length; i++)
        {
            if (args[i].StartsWith("console=ttyS", StringComparison.Ordinal))
            {
                args[i] = "console=ttyAMA0";
            }
        }

        return string.Join(' ', args);
    }

    private static DiskConfig Disk(string path)
    {
        var full = Path.GetFullPath(path);
        return new DiskConfig { Path = full, Readonly = true, ImageType = DiskFormat(full) };
    }

    // "QFI\xfb", the qcow2 header magic.
    private static ReadOnlySpan<byte> Qcow2Magic => [0x51, 0x46, 0x49, 0xfb];

    // Cloud Hypervisor's format autodetection is a hazard (a raw image that looks like qcow2 would
    // be interpreted as one), so the format is stated. Read-only disks: reading 4 bytes is enough.
    private static ImageType DiskFormat(string path)
    {
        Span<byte> magic = stackalloc byte[4];
        try
        {
            using var file = File.OpenHandle(path);
            if (RandomAccess.Read(file, magic, 0) == 4 && magic.SequenceEqual(Qcow2Magic))
            {
                return ImageType.Qcow2;
            }
        }
        catch (IOException)
        {
            // A missing disk is reported by policy check and by Cloud Hypervisor at vm.create.
        }
        catch (UnauthorizedAccessException)
        {
        }

        return ImageType.Raw;
    }
}
