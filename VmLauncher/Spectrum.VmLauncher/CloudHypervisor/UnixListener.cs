using System.ComponentModel;
using System.Runtime.InteropServices;
using System.Text;

namespace Spectrum.VmLauncher.CloudHypervisor;

/// <summary>
/// A bound, listening AF_UNIX stream socket owned only as a descriptor. Not a
/// <see cref="System.Net.Sockets.Socket"/>: disposing a Socket bound to a path unlinks that path,
/// which would delete vmm.sock the moment the broker closes its copy after handing the socket to
/// the VMM. Created O_CLOEXEC; only the spawn's dup2 gives the VMM a copy.
/// </summary>
internal sealed class UnixListener : SafeHandle
{
    private UnixListener()
        : base(-1, ownsHandle: true)
    {
    }

    public override bool IsInvalid => handle < 0;

    /// <summary>socket + bind + listen at <paramref name="path"/> (which must not exist).</summary>
    /// <exception cref="Win32Exception">The errno of the failing call.</exception>
    public static UnixListener Bind(string path, int backlog)
    {
        // struct sockaddr_un: sa_family_t sun_family; char sun_path[108] (NUL-terminated here).
        var name = Encoding.UTF8.GetBytes(path);
        if (name.Length > 107)
        {
            throw new Win32Exception(36 /* ENAMETOOLONG */, $"socket path {path} is longer than 107 bytes");
        }

        var address = new byte[2 + 108];
        address[0] = SpawnNative.AF_UNIX; // little-endian u16 on x86_64 and aarch64
        name.CopyTo(address, 2);

        var listener = new UnixListener();
        var fd = SpawnNative.socket(SpawnNative.AF_UNIX, SpawnNative.SOCK_STREAM | SpawnNative.SOCK_CLOEXEC, 0);
        if (fd < 0)
        {
            throw new Win32Exception(Marshal.GetLastPInvokeError());
        }

        listener.SetHandle(fd);
        if (SpawnNative.bind(fd, address, 2 + name.Length + 1) != 0 || SpawnNative.listen(fd, backlog) != 0)
        {
            var error = Marshal.GetLastPInvokeError();
            listener.Dispose();
            throw new Win32Exception(error);
        }

        return listener;
    }

    protected override bool ReleaseHandle() => SpawnNative.close((int)handle) == 0;
}
