using System.Text.Json;
using System.Text.Json.Nodes;
using Spectrum.VmLauncher.CloudHypervisor;

namespace Spectrum.VmLauncher.Tests.CloudHypervisor;

/// <summary>A short-lived directory with a short path (Unix socket paths are limited to 107 bytes).</summary>
internal sealed class TempDir : IDisposable
{
    public TempDir() => Directory.CreateDirectory(Path);

    public string Path { get; } = System.IO.Path.Combine("/tmp", "ch-" + Guid.NewGuid().ToString("N")[..10]);

    public string this[string name] => System.IO.Path.Combine(Path, name);

    public void Dispose()
    {
        try
        {
            Directory.Delete(Path, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}

public sealed class CloudHypervisorConfigTests
{
    private static readonly OpenApiSchema Api = OpenApiSchema.Instance;

    private static VmSpec Spec(VmArch arch = VmArch.X86_64, string tag = "virtiofs0", IReadOnlyList<string>? disks = null) => new()
    {
        Name = "editor",
        Kernel = "/srv/guest/vmlinuz",
        Initramfs = "/srv/guest/initrd.img",
        Cmdline = "console=ttyS0 quiet",
        Disks = disks ?? [],
        MemoryBytes = 256L << 20,
        Cpus = 2,
        Arch = arch,
        Tag = tag,
        SharedDirectory = "/run/spectrum/vm/editor/view",
        RuntimeDirectory = "/run/spectrum/vm/editor",
    };

    private static string Json(VmConfig config) => JsonSerializer.Serialize(config, CloudHypervisorJsonContext.Default.VmConfig);

    [Theory]
    [InlineData(VmArch.X86_64)]
    [InlineData(VmArch.Aarch64)]
    public void Build_ValidatesAgainstTheVmConfigSchema(VmArch arch)
    {
        var errors = Api.Validate(Json(CloudHypervisorConfig.Build(Spec(arch, disks: ["/srv/guest/tools.img"]))), "VmConfig");
        Assert.Empty(errors);
    }

    [Fact]
    public void Build_UsesTheSchemasSnakeCaseNames_AndOmitsUnsetMembers()
    {
        var json = JsonNode.Parse(Json(CloudHypervisorConfig.Build(Spec())))!;
        Assert.Equal(2, json["cpus"]!["boot_vcpus"]!.GetValue<int>());
        Assert.Equal(2, json["cpus"]!["max_vcpus"]!.GetValue<int>());
        Assert.Equal(256L << 20, json["memory"]!["size"]!.GetValue<long>());
        Assert.Equal(1, json["fs"]![0]!["num_queues"]!.GetValue<int>());
        Assert.Equal(1024, json["fs"]![0]!["queue_size"]!.GetValue<int>());
        Assert.Null(json["disks"]);
        Assert.DoesNotContain("null", json.ToJsonString(), StringComparison.Ordinal);
    }

    [Fact]
    public void Build_SharesGuestMemory_BecauseAVirtioFsDeviceExists()
    {
        var config = CloudHypervisorConfig.Build(Spec());
        Assert.Single(config.Fs!);
        Assert.True(config.Memory!.Shared);
        Assert.True(JsonNode.Parse(Json(config))!["memory"]!["shared"]!.GetValue<bool>());
    }

    [Fact]
    public void Build_PointsTheFsDeviceAtVirtiofsd_AndTheVsockAtThePortal()
    {
        var config = CloudHypervisorConfig.Build(Spec());
        Assert.Equal(("virtiofs0", "/run/spectrum/vm/editor/virtiofsd.sock"), (config.Fs![0].Tag, config.Fs[0].Socket));
        Assert.Equal(("/run/spectrum/vm/editor/portal.sock", 3L), (config.Vsock!.Socket, config.Vsock.Cid));
        Assert.Equal("/run/spectrum/vm/editor/portal.sock_219", CloudHypervisorLayout.PortalListenSocket(Spec()));
        Assert.Equal("/elsewhere/fs.sock", CloudHypervisorConfig.Build(Spec(), "/elsewhere/fs.sock").Fs![0].Socket);
    }

    [Fact]
    public void Build_X86_64_SerialIsTheUartToSerialLog_ConsoleOff_CmdlineUntouched()
    {
        var json = JsonNode.Parse(Json(CloudHypervisorConfig.Build(Spec(VmArch.X86_64))))!;
        Assert.Equal("File", json["serial"]!["mode"]!.GetValue<string>());
        Assert.Equal("/run/spectrum/vm/editor/serial.log", json["serial"]!["file"]!.GetValue<string>());
        Assert.Equal("Off", json["console"]!["mode"]!.GetValue<string>());
        Assert.Equal("console=ttyS0 quiet", json["payload"]!["cmdline"]!.GetValue<string>());
        Assert.Equal("/srv/guest/vmlinuz", json["payload"]!["kernel"]!.GetValue<string>());
        Assert.Equal("/srv/guest/initrd.img", json["payload"]!["initramfs"]!.GetValue<string>());
    }

    [Fact]
    public void Build_Aarch64_ConsoleMovesToThePl011()
    {
        var config = CloudHypervisorConfig.Build(Spec(VmArch.Aarch64));
        Assert.Equal("console=ttyAMA0 quiet", config.Payload.Cmdline);
        Assert.Equal((ConsoleMode.File, ConsoleMode.Off), (config.Serial!.Mode, config.Console!.Mode));
    }

    [Fact]
    public void Build_DisksAreReadOnly_WithTheirFormatStated()
    {
        using var dir = new TempDir();
        File.WriteAllBytes(dir["raw.img"], new byte[4096]);
        File.WriteAllBytes(dir["q.qcow2"], [0x51, 0x46, 0x49, 0xfb, 0, 0, 0, 3]);
        var config = CloudHypervisorConfig.Build(Spec(disks: [dir["raw.img"], dir["q.qcow2"]]));
        Assert.All(config.Disks!, d => Assert.True(d.Readonly));
        Assert.Equal([ImageType.Raw, ImageType.Qcow2], config.Disks!.Select(d => d.ImageType!.Value));
        Assert.Empty(Api.Validate(Json(config), "VmConfig"));
    }

    [Fact]
    public void Build_TagOf36Bytes_IsAccepted()
    {
        var tag = new string('t', 36);
        Assert.Equal(tag, CloudHypervisorConfig.Build(Spec(tag: tag)).Fs![0].Tag);
    }

    [Theory]
    [InlineData(37)]
    [InlineData(64)]
    public void Build_TagOver36Bytes_IsRefusedWithTheLimitInTheMessage(int length)
    {
        var e = Assert.Throws<CloudHypervisorConfigException>(() => CloudHypervisorConfig.Build(Spec(tag: new string('t', length))));
        Assert.Contains($"{length} bytes", e.Message, StringComparison.Ordinal);
        Assert.Contains("at most 36", e.Message, StringComparison.Ordinal);
        Assert.DoesNotContain('\n', e.Message);
    }

    [Fact]
    public void Build_TagLimitCountsUtf8Bytes_NotCharacters()
    {
        // 19 characters, 38 bytes.
        Assert.Throws<CloudHypervisorConfigException>(() => CloudHypervisorConfig.Build(Spec(tag: new string('é', 19))));
    }

    [Fact]
    public void Build_ZeroCpus_OrOddMemory_AreRefused()
    {
        Assert.Throws<CloudHypervisorConfigException>(() => CloudHypervisorConfig.Build(Spec() with { Cpus = 0 }));
        Assert.Throws<CloudHypervisorConfigException>(() => CloudHypervisorConfig.Build(Spec() with { MemoryBytes = (256L << 20) + 1 }));
    }

    [Fact]
    public void FsConfig_ValidatesAgainstTheFsConfigSchema()
    {
        var json = JsonSerializer.Serialize(CloudHypervisorConfig.Fs(Spec()), CloudHypervisorJsonContext.Default.FsConfig);
        Assert.Empty(Api.Validate(json, "FsConfig"));
    }

    [Fact]
    public void Validator_CatchesWhatItClaimsTo()
    {
        // The validator itself is only worth something if it fails: a missing required member, a
        // wrong enum, an unknown member, a wrong type and an out-of-range integer.
        var errors = Api.Validate("""{"payload":{},"cpus":{"boot_vcpus":0},"serial":{"mode":"Everywhere"},"vsock":{"cid":"3","socket":"s"},"memory":{"size":1,"sharde":true}}""", "VmConfig");
        Assert.Contains(errors, e => e.Contains("'max_vcpus' is missing", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.Contains("$.cpus.boot_vcpus: 0 is outside", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.Contains("\"Everywhere\" is not one of", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.Contains("$.vsock.cid: expected an integer", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.Contains("'sharde' is not in the schema", StringComparison.Ordinal));
        Assert.Contains(Api.Validate("""{"tag":"t","socket":"s","num_queues":1}""", "FsConfig"), e => e.Contains("'queue_size' is missing", StringComparison.Ordinal));
    }

    [Fact]
    public void Schema_ParsesTheWholeDocument()
    {
        Assert.Equal("3.0.1", Api.Root["openapi"]!.GetValue<string>());
        Assert.Equal(["cid", "socket"], Api.Schema("VsockConfig")["required"]!.AsArray().Select(n => n!.GetValue<string>()));
        Assert.Equal([200, 204, 400, 404, 409, 500], Api.Statuses("vm.add-fs"));
        Assert.Equal(["Off", "Pty", "Tty", "File", "Socket", "Null"], Api.Schema("ConsoleMode")["enum"]!.AsArray().Select(n => n!.GetValue<string>()));
        Assert.StartsWith("Defines a token bucket", Api.Schema("TokenBucket")["description"]!.GetValue<string>(), StringComparison.Ordinal);
        Assert.StartsWith("Sysfs path of the VFIO device.", Api.Schema("DeviceConfig")["properties"]!["path"]!["description"]!.GetValue<string>(), StringComparison.Ordinal);
    }

    [SharedReferenceFact]
    public void Schema_VendoredCopyMatchesTheSharedReference() =>
        Assert.Equal(File.ReadAllText(OpenApiSchema.SharedReference()!), File.ReadAllText(OpenApiSchema.VendoredCopy()));

    [Theory]
    [InlineData(VmArch.X86_64, "bz", true)]
    [InlineData(VmArch.X86_64, "elf-x86", true)]
    [InlineData(VmArch.X86_64, "arm-image", false)]
    [InlineData(VmArch.Aarch64, "arm-image", true)]
    [InlineData(VmArch.Aarch64, "gzip", false)]
    [InlineData(VmArch.Aarch64, "zboot", false)]
    [InlineData(VmArch.Aarch64, "bz", false)]
    public void KernelCheck_AcceptsOnlyWhatCloudHypervisorBootsOnTheArch(VmArch arch, string kind, bool accepted)
    {
        using var dir = new TempDir();
        var path = dir["kernel"];
        File.WriteAllBytes(path, FakeKernel(kind));
        var spec = Spec(arch) with { Kernel = path };
        if (accepted)
        {
            KernelImage.Check(spec);
        }
        else
        {
            var e = Assert.Throws<CloudHypervisorConfigException>(() => KernelImage.Check(spec));
            Assert.Contains(path, e.Message, StringComparison.Ordinal);
        }
    }

    [Fact]
    public void KernelCheck_MissingKernel_NamesThePolicyKey()
    {
        var e = Assert.Throws<CloudHypervisorConfigException>(() => KernelImage.Check(Spec() with { Kernel = "/nonexistent/vmlinuz" }));
        Assert.Contains("[vm] kernel", e.Message, StringComparison.Ordinal);
    }

    internal static byte[] FakeKernel(string kind)
    {
        var bytes = new byte[0x400];
        switch (kind)
        {
            case "bz":
                "HdrS"u8.CopyTo(bytes.AsSpan(0x202));
                break;
            case "elf-x86":
                bytes[0] = 0x7f;
                "ELF"u8.CopyTo(bytes.AsSpan(1));
                bytes[0x12] = 62;
                break;
            case "arm-image":
                bytes[0x38] = 0x41;
                bytes[0x39] = 0x52;
                bytes[0x3a] = 0x4d;
                bytes[0x3b] = 0x64;
                break;
            case "gzip":
                bytes[0] = 0x1f;
                bytes[1] = 0x8b;
                break;
            case "zboot":
                "MZ"u8.CopyTo(bytes);
                "zimg"u8.CopyTo(bytes.AsSpan(4));
                break;
            default:
                throw new ArgumentOutOfRangeException(nameof(kind));
        }

        return bytes;
    }
}

/// <summary>A fact that needs <c>../shared/reference</c> next to the checkout; skipped where the checkout stands alone.</summary>
public sealed class SharedReferenceFactAttribute : FactAttribute
{
    public SharedReferenceFactAttribute()
    {
        if (OpenApiSchema.SharedReference() is null)
        {
            Skip = "../shared/reference/cloud-hypervisor-openapi.yaml is not next to this checkout";
        }
    }
}
