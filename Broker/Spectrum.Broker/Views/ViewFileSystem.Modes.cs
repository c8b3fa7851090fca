using Spectrum.Interop;

namespace Spectrum.Broker.Views;

/// <summary>Permission bits of what a view creates, and the mode and owner changes it allows.</summary>
internal sealed partial class ViewFileSystem
{
    private const uint PermissionBits = 0x1FF;
    private const uint SetGidBit = 0x400;

    /// <summary>
    /// Gives a newly created object exactly the mode the guest asked for: the request's mode less
    /// the request's umask (the guest process's), never the broker's own umask, which the host's
    /// open/mkdir apply on top (and which the broker sets to 077 for its own files). The kernel
    /// already masks the mode without FUSE_DONT_MASK (fs/fuse/dir.c) and sends the umask too; we
    /// apply it again (idempotent) and leave DONT_MASK off: it only matters to a filesystem that
    /// honours default ACLs, and a view supports none. Setuid/setgid never pass; a setgid bit the
    /// host gave a new directory (inherited from a setgid parent) is the host's and is kept.
    /// <paramref name="fd"/> is the new object itself (an fd open on it, or its O_PATH fd from the
    /// O_NOFOLLOW lookup): fchmodat2(AT_EMPTY_PATH) on it never follows a symlink.
    /// </summary>
    private static Errno SetCreationMode(SafeFd fd, uint mode, uint umask, bool directory)
    {
        var wanted = mode & PermissionBits & ~umask;
        if (directory && Posix.Stat(fd, out var st) == Errno.OK)
        {
            wanted |= st.Mode & SetGidBit;
        }

        return Posix.Chmod(fd, wanted);
    }
}
