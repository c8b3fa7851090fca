namespace Spectrum.Broker.Tests.Views;

/// <summary>
/// The Linux (x86_64/aarch64) flag values that both view-test libc wrappers take,
/// <see cref="ViewPosixNative"/> and <see cref="ViewSecNative"/>; imported project-wide.
/// </summary>
internal static class LinuxAbi
{
    public const int O_RDONLY = 0;
    public const int O_WRONLY = 1;
    public const int O_RDWR = 2;
    public const int O_CREAT = 0x40;
    public const int O_EXCL = 0x80;
    public const int O_TRUNC = 0x200;
    public const int O_CLOEXEC = 0x80000;
    public const int AT_FDCWD = -100;
    public const uint RENAME_NOREPLACE = 1;
    public const uint RENAME_EXCHANGE = 2;
}
