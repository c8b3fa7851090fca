namespace Spectrum.VmLauncher.CloudHypervisor;

/// <summary>What a kernel file is, judged from its header.</summary>
public enum KernelFormat
{
    Unknown,

    /// <summary>An x86_64 ELF <c>vmlinux</c>: Cloud Hypervisor enters it through its PVH note.</summary>
    ElfX86_64,

    /// <summary>An aarch64 ELF <c>vmlinux</c>: not bootable by Cloud Hypervisor (it loads an Image).</summary>
    ElfAarch64,

    /// <summary>An x86 bzImage (<c>HdrS</c> at 0x202), such as Debian's <c>vmlinuz</c>.</summary>
    BzImage,

    /// <summary>An uncompressed arm64 <c>Image</c> (<c>ARM\x64</c> at 0x38).</summary>
    Arm64Image,

    /// <summary>A gzip file, e.g. an older Debian arm64 <c>vmlinuz</c> (a gzipped Image).</summary>
    Gzip,

    /// <summary>An EFI zboot image (<c>MZ</c>, <c>zimg</c> at 4), e.g. a newer Debian arm64 <c>vmlinuz</c>.</summary>
    EfiZboot,
}

/// <summary>
/// Checks that a kernel is one Cloud Hypervisor can boot directly on the guest architecture:
/// x86_64 takes a PVH ELF <c>vmlinux</c> or a bzImage; aarch64 takes an uncompressed <c>Image</c>
/// (Cloud Hypervisor neither decompresses nor runs an EFI stub without firmware).
/// </summary>
public static class KernelImage
{
    /// <summary>Reads the first 0x240 bytes of <paramref name="path"/> and names the format.</summary>
    public static KernelFormat Detect(string path)
    {
        Span<byte> header = stackalloc byte[0x240];
        using var file = File.OpenHandle(path);
        var n = RandomAccess.Read(file, header, 0);
        return Detect(header[..n]);
    }

    /// <summary>The format of a kernel header.</summary>
    public static KernelFormat Detect(ReadOnlySpan<byte> header)
    {
        if (header.Length >= 20 && header[..4].SequenceEqual(ElfMagic))
        {
            // e_machine at 0x12 (little-endian): 62 = EM_X86_64, 183 = EM_AARCH64.
            var machine = header[0x12] | (header[0x13] << 8);
            return machine switch
            {
                62 => KernelFormat.ElfX86_64,
                183 => KernelFormat.ElfAarch64,
                _ => KernelFormat.Unknown,
            };
        }

        if (header.Length >= 0x206 && header.Slice(0x202, 4).SequenceEqual("HdrS"u8))
        {
            return KernelFormat.BzImage;
        }

        if (header.Length >= 0x3c && header.Slice(0x38, 4).SequenceEqual(Arm64Magic))
        {
            return KernelFormat.Arm64Image;
        }

        if (header.Length >= 8 && header[..2].SequenceEqual("MZ"u8) && header.Slice(4, 4).SequenceEqual("zimg"u8))
        {
            return KernelFormat.EfiZboot;
        }

        return header.Length >= 2 && header[0] == 0x1f && header[1] == 0x8b ? KernelFormat.Gzip : KernelFormat.Unknown;
    }

    /// <summary>Throws unless <paramref name="spec"/>'s kernel exists and boots on its architecture.</summary>
    /// <exception cref="CloudHypervisorConfigException">The kernel is missing or in the wrong format; the message says what to use.</exception>
    public static void Check(VmSpec spec)
    {
        ArgumentNullException.ThrowIfNull(spec);
        KernelFormat format;
        try
        {
            format = Detect(spec.Kernel);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new CloudHypervisorConfigException($"VM '{spec.Name}': cannot read kernel {spec.Kernel} ({e.Message}); fix [vm] kernel in its policy.", e);
        }

        var fix = (spec.Arch, format) switch
        {
            (VmArch.X86_64, KernelFormat.ElfX86_64 or KernelFormat.BzImage) => null,
            (VmArch.X86_64, _) => "x86_64 guests need a PVH vmlinux or a bzImage (e.g. Debian's /boot/vmlinuz-*)",
            (VmArch.Aarch64, KernelFormat.Arm64Image) => null,
            (VmArch.Aarch64, KernelFormat.Gzip) => "decompress it (gunzip) to an arm64 Image: Cloud Hypervisor does not decompress kernels",
            (VmArch.Aarch64, KernelFormat.EfiZboot) => "extract the arm64 Image from this EFI zboot vmlinuz: Cloud Hypervisor boots it without EFI firmware",
            (VmArch.Aarch64, _) => "aarch64 guests need an uncompressed arm64 Image (arch/arm64/boot/Image)",
            _ => $"architecture {spec.Arch} is not supported by the Cloud Hypervisor backend",
        };
        if (fix is not null)
        {
            throw new CloudHypervisorConfigException($"VM '{spec.Name}': kernel {spec.Kernel} is {format}; {fix}.");
        }
    }

    private static ReadOnlySpan<byte> ElfMagic => [0x7f, 0x45, 0x4c, 0x46]; // "\x7fELF"

    private static ReadOnlySpan<byte> Arm64Magic => [0x41, 0x52, 0x4d, 0x64]; // "ARM\x64"
}
