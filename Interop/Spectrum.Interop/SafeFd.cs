using System.Runtime.InteropServices;

namespace Spectrum.Interop;

/// <summary>An owned Linux file descriptor.</summary>
public sealed class SafeFd : SafeHandle
{
    public SafeFd()
        : base(new IntPtr(-1), ownsHandle: true)
    {
    }

    internal SafeFd(int fd)
        : base(new IntPtr(-1), ownsHandle: true) => SetHandle(new IntPtr(fd));

    public override bool IsInvalid => handle.ToInt64() < 0;

    protected override bool ReleaseHandle() => Libc.close((int)handle.ToInt64()) == 0;
}
