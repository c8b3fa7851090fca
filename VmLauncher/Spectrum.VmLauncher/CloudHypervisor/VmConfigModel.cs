using System.Text.Json.Serialization;

namespace Spectrum.VmLauncher.CloudHypervisor;

// The subset of Cloud Hypervisor's API schema (shared/reference/cloud-hypervisor-openapi.yaml,
// components/schemas) that Spectrum sends or reads. Property names are the schema's snake_case
// ones, produced by the source-generated context below; optional members are omitted when null so
// that Cloud Hypervisor applies its own documented defaults. The test suite validates every body
// against the schema itself, so a renamed or mistyped member fails a test, not a boot.

/// <summary><c>VmConfig</c>: the body of <c>PUT /vm.create</c>. Only <c>payload</c> is required.</summary>
public sealed record VmConfig
{
    public CpusConfig? Cpus { get; init; }

    public MemoryConfig? Memory { get; init; }

    public required PayloadConfig Payload { get; init; }

    public IReadOnlyList<DiskConfig>? Disks { get; init; }

    public IReadOnlyList<FsConfig>? Fs { get; init; }

    public SerialConfig? Serial { get; init; }

    public ConsoleConfig? Console { get; init; }

    public VsockConfig? Vsock { get; init; }
}

/// <summary><c>PayloadConfig</c>: what the guest boots (direct kernel boot here; no firmware).</summary>
public sealed record PayloadConfig
{
    public string? Kernel { get; init; }

    public string? Cmdline { get; init; }

    public string? Initramfs { get; init; }
}

/// <summary><c>CpusConfig</c>: both counts are required and at least 1.</summary>
public sealed record CpusConfig
{
    public required int BootVcpus { get; init; }

    public required int MaxVcpus { get; init; }
}

/// <summary><c>MemoryConfig</c>: <c>shared</c> must be true for vhost-user devices (virtio-fs) to map guest RAM.</summary>
public sealed record MemoryConfig
{
    public required long Size { get; init; }

    public bool? Shared { get; init; }
}

/// <summary><c>ImageType</c>: set explicitly so that Cloud Hypervisor never guesses a disk's format.</summary>
public enum ImageType
{
    Raw,
    Qcow2,
}

/// <summary><c>DiskConfig</c>.</summary>
public sealed record DiskConfig
{
    public required string Path { get; init; }

    public bool? Readonly { get; init; }

    public ImageType? ImageType { get; init; }
}

/// <summary><c>FsConfig</c>: one virtio-fs device backed by a vhost-user socket (virtiofsd). Also the body of <c>PUT /vm.add-fs</c>.</summary>
public sealed record FsConfig
{
    public required string Tag { get; init; }

    public required string Socket { get; init; }

    public required int NumQueues { get; init; }

    public required int QueueSize { get; init; }

    public string? Id { get; init; }
}

/// <summary><c>ConsoleMode</c>; the member names are the schema's enum strings.</summary>
public enum ConsoleMode
{
    Off,
    Pty,
    Tty,
    File,
    Socket,
    Null,
}

/// <summary><c>SerialConfig</c>: the legacy UART (8250 COM1 on x86_64, PL011 on aarch64).</summary>
public sealed record SerialConfig
{
    public required ConsoleMode Mode { get; init; }

    public string? File { get; init; }
}

/// <summary><c>ConsoleConfig</c>: the virtio-console (<c>hvc0</c>).</summary>
public sealed record ConsoleConfig
{
    public required ConsoleMode Mode { get; init; }

    public string? File { get; init; }
}

/// <summary>
/// <c>VsockConfig</c>: Cloud Hypervisor's virtio-vsock is "hybrid": guest connections to host
/// port P arrive at the Unix socket <c>&lt;socket&gt;_P</c>, which the host must be listening on;
/// host-initiated connections go to <c>&lt;socket&gt;</c> itself, followed by <c>CONNECT P\n</c>.
/// </summary>
public sealed record VsockConfig
{
    /// <summary>Guest CID, at least 3. Hybrid vsock never reaches the host's vsock stack, so guests may share it.</summary>
    public required long Cid { get; init; }

    public required string Socket { get; init; }
}

/// <summary>The schema's <c>VmState</c> (named apart from the launcher's own <see cref="Spectrum.VmLauncher.VmState"/>).</summary>
public enum VmInfoState
{
    Created,
    Running,
    Shutdown,
    Paused,
    BreakPoint,
}

/// <summary><c>VmInfo</c>: the body of <c>GET /vm.info</c> (200). Members Spectrum does not use are ignored.</summary>
public sealed record VmInfo
{
    public required VmInfoState State { get; init; }

    public VmConfig? Config { get; init; }

    public long? MemoryActualSize { get; init; }
}

/// <summary><c>VmmPingResponse</c>: the body of <c>GET /vmm.ping</c> (200).</summary>
public sealed record VmmPingResponse
{
    public required string Version { get; init; }

    public string? BuildVersion { get; init; }

    public long? Pid { get; init; }

    public IReadOnlyList<string>? Features { get; init; }
}

/// <summary><c>PciDeviceInfo</c>: the body of a 200 from a hot-plug (<c>vm.add-fs</c>).</summary>
public sealed record PciDeviceInfo
{
    public required string Id { get; init; }

    public required string Bdf { get; init; }
}

/// <summary>System.Text.Json metadata for the API bodies: snake_case names, nulls omitted, enums as their names.</summary>
[JsonSourceGenerationOptions(
    PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower,
    DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    UseStringEnumConverter = true)]
[JsonSerializable(typeof(VmConfig))]
[JsonSerializable(typeof(FsConfig))]
[JsonSerializable(typeof(VmInfo))]
[JsonSerializable(typeof(VmmPingResponse))]
[JsonSerializable(typeof(PciDeviceInfo))]
public sealed partial class CloudHypervisorJsonContext : JsonSerializerContext;
