using Spectrum.Capabilities;

namespace Spectrum.Policy;

/// <summary>
/// Everything one <c>vms/&lt;name&gt;.toml</c> says about one VM. Compares by value: loading the
/// same file twice gives equal policies.
/// </summary>
public sealed record VmPolicy
{
    /// <summary>The VM name: the file name without <c>.toml</c>.</summary>
    public required string Name { get; init; }

    /// <summary>What the launcher boots (<c>[vm]</c>), or null when the file has no <c>[vm]</c> table.</summary>
    public VmDefinition? Vm { get; init; }

    /// <summary>Static grants (<c>[[grant]]</c>), sorted by path (ordinal). Default: none.</summary>
    public IReadOnlyList<StaticGrant> Grants { get; init; } = EquatableList<StaticGrant>.Empty;

    /// <summary>What the portal may hand out (<c>[portal]</c>). Default: nothing.</summary>
    public PortalPolicy Portal { get; init; } = PortalPolicy.Default;

    /// <summary>How the view is served (<c>[view]</c>).</summary>
    public ViewOptions View { get; init; } = ViewOptions.Default;

    /// <summary>The file this policy came from, as reached from the policy directory.</summary>
    public required string File { get; init; }
}

/// <summary>The VMM that boots a guest (<c>[vm] vmm</c>).</summary>
public enum VmmKind
{
    /// <summary><c>cloud-hypervisor</c>: production.</summary>
    CloudHypervisor,

    /// <summary><c>qemu</c>: where Cloud Hypervisor is absent.</summary>
    Qemu,
}

/// <summary>The guest architecture (<c>[vm] arch</c>).</summary>
public enum VmArchitecture
{
    /// <summary><c>x86_64</c>.</summary>
    X64,

    /// <summary><c>aarch64</c>.</summary>
    Arm64,
}

/// <summary>virtiofsd's <c>--cache</c> mode (<c>[vm] virtiofsd_cache</c>).</summary>
public enum VirtiofsdCache
{
    /// <summary><c>never</c>: the guest caches nothing, so revocations are seen at once.</summary>
    Never,

    /// <summary><c>metadata</c>.</summary>
    Metadata,

    /// <summary><c>auto</c>.</summary>
    Auto,

    /// <summary><c>always</c>.</summary>
    Always,
}

/// <summary>The <c>[vm]</c> table: what the launcher boots.</summary>
public sealed record VmDefinition
{
    /// <summary>Default memory: 512 MiB.</summary>
    public const long DefaultMemoryBytes = 512L << 20;

    /// <summary>Smallest memory accepted: 64 MiB.</summary>
    public const long MinMemoryBytes = 64L << 20;

    /// <summary>Largest memory accepted: 1 TiB.</summary>
    public const long MaxMemoryBytes = 1L << 40;

    /// <summary>Most vCPUs accepted.</summary>
    public const int MaxCpus = 64;

    /// <summary><c>kernel</c> (required): the guest kernel. Relative paths in <c>[vm]</c> are relative to the policy directory; they are stored resolved.</summary>
    public required string Kernel { get; init; }

    /// <summary><c>initramfs</c>: an initramfs. Default: none.</summary>
    public string? Initramfs { get; init; }

    /// <summary><c>cmdline</c>: the kernel command line. Default: empty.</summary>
    public string Cmdline { get; init; } = "";

    /// <summary><c>disks</c>: read-only disk images, in order. Default: none.</summary>
    public IReadOnlyList<string> Disks { get; init; } = EquatableList<string>.Empty;

    /// <summary><c>memory</c> ("512M", "1G"), in bytes, at least 64M. Default: 512M.</summary>
    public long MemoryBytes { get; init; } = DefaultMemoryBytes;

    /// <summary><c>cpus</c>: vCPU count, 1..64. Default: 1.</summary>
    public int Cpus { get; init; } = 1;

    /// <summary><c>vmm</c>: "cloud-hypervisor" or "qemu". Default: cloud-hypervisor.</summary>
    public VmmKind Vmm { get; init; } = VmmKind.CloudHypervisor;

    /// <summary><c>arch</c>: "x86_64" or "aarch64". Default: x86_64.</summary>
    public VmArchitecture Arch { get; init; } = VmArchitecture.X64;

    /// <summary><c>virtiofsd_cache</c>: "never", "metadata", "auto" or "always". Default: never.</summary>
    public VirtiofsdCache VirtiofsdCache { get; init; } = VirtiofsdCache.Never;
}

/// <summary>Whether a static grant names a file or a directory (<c>[[grant]] kind</c>).</summary>
public enum GrantKind
{
    /// <summary><c>file</c>.</summary>
    File,

    /// <summary><c>directory</c>: covers the subtree.</summary>
    Directory,
}

/// <summary>One <c>[[grant]]</c> entry of a VM policy.</summary>
public sealed record StaticGrant
{
    /// <summary>The VM the grant is for (the policy file's name).</summary>
    public required string Vm { get; init; }

    /// <summary><c>path</c> (required): the granted path, relative to the tree.</summary>
    public required TreePath Path { get; init; }

    /// <summary><c>rights</c>: "ro", "rw" or a comma list of right names. Default: ro.</summary>
    public Rights Rights { get; init; } = Rights.ReadOnly;

    /// <summary><c>expires</c>: a duration after which the grant lapses. Default: null (never).</summary>
    public TimeSpan? Expires { get; init; }

    /// <summary><c>kind</c>: "file" or "directory". Default: null, the broker looks at the tree.</summary>
    public GrantKind? Kind { get; init; }
}

/// <summary>How long a portal grant lives.</summary>
public enum PortalPersistenceKind
{
    /// <summary><c>session</c>: until the VM stops.</summary>
    Session,

    /// <summary><c>persistent</c>: until revoked.</summary>
    Persistent,

    /// <summary>A duration such as <c>8h</c>.</summary>
    Timed,
}

/// <summary><c>[portal] persistence</c>: "session", "persistent" or a duration.</summary>
/// <param name="Kind">Which of the three.</param>
/// <param name="Duration">The lifetime when <paramref name="Kind"/> is <see cref="PortalPersistenceKind.Timed"/>, else null.</param>
public sealed record PortalPersistence(PortalPersistenceKind Kind, TimeSpan? Duration)
{
    /// <summary>Until the VM stops.</summary>
    public static PortalPersistence Session { get; } = new(PortalPersistenceKind.Session, null);

    /// <summary>Until revoked.</summary>
    public static PortalPersistence Persistent { get; } = new(PortalPersistenceKind.Persistent, null);

    /// <summary>For <paramref name="duration"/>.</summary>
    public static PortalPersistence For(TimeSpan duration) => new(PortalPersistenceKind.Timed, duration);

    /// <summary>The policy-file spelling.</summary>
    public override string ToString() => Kind switch
    {
        PortalPersistenceKind.Session => "session",
        PortalPersistenceKind.Persistent => "persistent",
        _ => DurationText.Format(Duration ?? TimeSpan.Zero),
    };
}

/// <summary>The <c>[portal]</c> table: what the host file dialog may hand out to a VM.</summary>
public sealed record PortalPolicy
{
    /// <summary>The policy of a VM without <c>[portal]</c>: nothing is allowed.</summary>
    public static PortalPolicy Default { get; } = new();

    /// <summary><c>allow</c>: globs of paths the portal may grant. Default: none, so nothing.</summary>
    public IReadOnlyList<PathGlob> Allow { get; init; } = EquatableList<PathGlob>.Empty;

    /// <summary><c>deny</c>: globs that override <see cref="Allow"/>. Default: none.</summary>
    public IReadOnlyList<PathGlob> Deny { get; init; } = EquatableList<PathGlob>.Empty;

    /// <summary><c>max_rights</c>: the most a portal grant may carry. Default: rw.</summary>
    public Rights MaxRights { get; init; } = Rights.ReadWrite;

    /// <summary><c>persistence</c>: how long portal grants live. Default: session.</summary>
    public PortalPersistence Persistence { get; init; } = PortalPersistence.Session;

    /// <summary>True when some allow glob matches <paramref name="path"/> and no deny glob does.</summary>
    public bool Permits(TreePath path) =>
        Allow.Any(g => g.IsMatch(path)) && !Deny.Any(g => g.IsMatch(path));

    /// <summary>
    /// True when <paramref name="path"/> is permitted and nothing at or below it is denied: the
    /// check for handing out a whole directory.
    /// </summary>
    public bool PermitsSubtree(TreePath path) =>
        Permits(path) && !Deny.Any(g => g.CouldMatchAtOrBelow(path));
}

/// <summary>The <c>[view]</c> table: how a VM's view is served.</summary>
public sealed record ViewOptions
{
    /// <summary>All defaults.</summary>
    public static ViewOptions Default { get; } = new();

    /// <summary>
    /// <c>passthrough</c>: use FUSE kernel passthrough for speed; already-open files then stay
    /// readable after a revoke until closed. Default: false.
    /// </summary>
    public bool Passthrough { get; init; }
}
