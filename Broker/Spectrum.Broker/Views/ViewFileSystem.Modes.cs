using Spectrum.FuseFs;
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
    /// open/mkdir apply on top (whatever it is; the tests run the broker under 077 too). The kernel
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

    private const uint StickyBit = 0x200;

    /// <summary>
    /// The mode bits a chmod through the view may set: the permission bits, and the sticky bit on
    /// a directory (restricted deletion, what /tmp-like shared folders and cp -a/tar of them need;
    /// it grants nothing on the host, where the broker acts as root anyway). Setuid and setgid
    /// never (they would run guest-written programs with the tree owner's ids on the host), nor
    /// sticky on a file, which means nothing on Linux.
    /// </summary>
    private static uint AllowedModeBits(ViewNode node) => node.IsDirectory ? PermissionBits | StickyBit : PermissionBits;

    /// <summary>
    /// A chown to the owner the guest already sees is a no-op, and succeeds: the view shows the
    /// configured guest uid/gid on everything (<see cref="Fill"/>), and cp -a, tar x and rsync -a
    /// as root chown every file to its source owner, then chmod and utime it; refusing the no-op
    /// made them fail and skip the rest. Any other owner is refused (EPERM): owners on the host
    /// stay the tree's. The kernel sends no uid/gid for -1, so "-1" is "unchanged" here too.
    /// </summary>
    private bool ChownChangesNothing(in FuseSetAttrIn changes, FuseSetAttrValid valid) =>
        ((valid & FuseSetAttrValid.Uid) == 0 || changes.Uid == _settings.GuestUid)
        && ((valid & FuseSetAttrValid.Gid) == 0 || changes.Gid == _settings.GuestGid);
}
