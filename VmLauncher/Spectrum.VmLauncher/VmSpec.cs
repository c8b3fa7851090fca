namespace Spectrum.VmLauncher;

/// <summary>The VMM that runs a guest.</summary>
public enum VmmKind
{
    /// <summary>Cloud Hypervisor: production.</summary>
    CloudHypervisor,

    /// <summary>QEMU: hosts without Cloud Hypervisor, and the end-to-end tests.</summary>
    Qemu,
}

/// <summary>Guest architecture.</summary>
public enum VmArch
{
    X86_64,
    Aarch64,
}

/// <summary>virtiofsd's cache mode for the view it exports.</summary>
public enum VirtiofsCache
{
    /// <summary>No guest caching: a revoke is seen at once (the default).</summary>
    Never,
    Metadata,
    Auto,
    Always,
}

/// <summary>
/// Everything the launcher needs to start one guest. The broker builds it from the VM's policy
/// (<c>[vm]</c>) and its runtime layout; the launcher knows nothing of grants or policies.
/// </summary>
public sealed record VmSpec
{
    /// <summary>The VM's name (also the policy file name).</summary>
    public required string Name { get; init; }

    public required string Kernel { get; init; }

    public string? Initramfs { get; init; }

    public string Cmdline { get; init; } = "console=ttyS0";

    /// <summary>Read-only disks, in order.</summary>
    public IReadOnlyList<string> Disks { get; init; } = [];

    public long MemoryBytes { get; init; } = 512L << 20;

    public int Cpus { get; init; } = 1;

    public VmmKind Vmm { get; init; } = VmmKind.CloudHypervisor;

    public VmArch Arch { get; init; } = VmArch.X86_64;

    public VirtiofsCache Cache { get; init; } = VirtiofsCache.Never;

    /// <summary>The directory the guest mounts as virtio-fs tag <c>virtiofs0</c> (the VM's view).</summary>
    public required string SharedDirectory { get; init; }

    /// <summary><c>$RUNTIME/vm/&lt;vm&gt;</c>: sockets (virtiofsd.sock, vmm.sock, portal.sock) and the serial log go here.</summary>
    public required string RuntimeDirectory { get; init; }

    /// <summary>The virtio-fs tag; at most 36 bytes (Cloud Hypervisor's limit).</summary>
    public string Tag { get; init; } = "virtiofs0";
}
