using Spectrum.Interop;

namespace Spectrum.FuseFs;

/// <summary>
/// A base <see cref="IFuseFileSystem"/> answering ENOSYS to everything but what the kernel needs
/// to mount: GETATTR of the root, OPENDIR/RELEASEDIR (stateless, handle 0), and FLUSH/RELEASE
/// (nothing to do). Override what you implement.
/// </summary>
public abstract class FuseFileSystem : IFuseFileSystem
{
    public virtual void Init(FuseSession session, in FuseConnectionInfo connection)
    {
    }

    public virtual void Destroy()
    {
    }

    public virtual void RequestDone()
    {
    }

    public virtual Errno Lookup(in FuseRequestContext context, ulong parent, ReadOnlySpan<byte> name, ref FuseEntryOut entry) => Errno.ENOSYS;

    public virtual void Forget(ulong node, ulong references)
    {
    }

    public virtual Errno GetAttr(in FuseRequestContext context, ulong node, ulong? fh, ref FuseAttrOut attr)
    {
        if (node != FuseSession.RootKey)
        {
            return Errno.ENOSYS;
        }

        attr.Attr.Ino = FuseSession.RootKey;
        attr.Attr.Mode = 0x4000 | 0x1ED; // S_IFDIR | 0755
        attr.Attr.Nlink = 2;
        return Errno.OK;
    }

    public virtual Errno SetAttr(in FuseRequestContext context, ulong node, in FuseSetAttrIn changes, ref FuseAttrOut attr) => Errno.ENOSYS;

    public virtual Errno Readlink(in FuseRequestContext context, ulong node, Span<byte> target, out int length)
    {
        length = 0;
        return Errno.ENOSYS;
    }

    public virtual Errno Symlink(in FuseRequestContext context, ulong parent, ReadOnlySpan<byte> name, ReadOnlySpan<byte> target, ref FuseEntryOut entry) => Errno.ENOSYS;

    public virtual Errno Mknod(in FuseRequestContext context, ulong parent, ReadOnlySpan<byte> name, uint mode, uint rdev, uint umask, ref FuseEntryOut entry) => Errno.ENOSYS;

    public virtual Errno Mkdir(in FuseRequestContext context, ulong parent, ReadOnlySpan<byte> name, uint mode, uint umask, ref FuseEntryOut entry) => Errno.ENOSYS;

    public virtual Errno Unlink(in FuseRequestContext context, ulong parent, ReadOnlySpan<byte> name) => Errno.ENOSYS;

    public virtual Errno Rmdir(in FuseRequestContext context, ulong parent, ReadOnlySpan<byte> name) => Errno.ENOSYS;

    public virtual Errno Rename(in FuseRequestContext context, ulong parent, ReadOnlySpan<byte> name, ulong newParent, ReadOnlySpan<byte> newName, FuseRenameFlags flags) => Errno.ENOSYS;

    public virtual Errno Link(in FuseRequestContext context, ulong node, ulong newParent, ReadOnlySpan<byte> newName, ref FuseEntryOut entry) => Errno.ENOSYS;

    public virtual Errno Open(in FuseRequestContext context, ulong node, int flags, ref FuseOpenOut open) => Errno.ENOSYS;

    public virtual Errno Read(in FuseRequestContext context, ulong node, ulong fh, ulong offset, Span<byte> buffer, out int bytesRead)
    {
        bytesRead = 0;
        return Errno.ENOSYS;
    }

    public virtual Errno Write(in FuseRequestContext context, ulong node, ulong fh, ulong offset, ReadOnlySpan<byte> data, FuseWriteFlags flags, out int bytesWritten)
    {
        bytesWritten = 0;
        return Errno.ENOSYS;
    }

    public virtual Errno StatFs(in FuseRequestContext context, ulong node, ref FuseKStatfs stat)
    {
        stat.Bsize = 4096;
        stat.Frsize = 4096;
        stat.Namelen = FuseLimits.MaxName;
        return Errno.OK;
    }

    public virtual Errno Release(in FuseRequestContext context, ulong node, ulong fh, int flags, FuseReleaseFlags releaseFlags, ulong lockOwner) => Errno.OK;

    public virtual Errno Fsync(in FuseRequestContext context, ulong node, ulong fh, bool dataOnly) => Errno.ENOSYS;

    public virtual Errno SetXattr(in FuseRequestContext context, ulong node, ReadOnlySpan<byte> name, ReadOnlySpan<byte> value, int flags) => Errno.ENOSYS;

    public virtual Errno GetXattr(in FuseRequestContext context, ulong node, ReadOnlySpan<byte> name, Span<byte> value, out int size)
    {
        size = 0;
        return Errno.ENOSYS;
    }

    public virtual Errno ListXattr(in FuseRequestContext context, ulong node, Span<byte> list, out int size)
    {
        size = 0;
        return Errno.ENOSYS;
    }

    public virtual Errno RemoveXattr(in FuseRequestContext context, ulong node, ReadOnlySpan<byte> name) => Errno.ENOSYS;

    public virtual Errno Flush(in FuseRequestContext context, ulong node, ulong fh, ulong lockOwner) => Errno.ENOSYS;

    public virtual Errno OpenDir(in FuseRequestContext context, ulong node, int flags, ref FuseOpenOut open) => Errno.OK;

    public virtual Errno ReadDir(in FuseRequestContext context, ulong node, ulong fh, ulong offset, ref FuseDirectoryWriter entries) => Errno.ENOSYS;

    public virtual Errno ReadDirPlus(in FuseRequestContext context, ulong node, ulong fh, ulong offset, ref FuseDirectoryWriter entries) => Errno.ENOSYS;

    public virtual Errno ReleaseDir(in FuseRequestContext context, ulong node, ulong fh, int flags) => Errno.OK;

    public virtual Errno FsyncDir(in FuseRequestContext context, ulong node, ulong fh, bool dataOnly) => Errno.ENOSYS;

    public virtual Errno GetLk(in FuseRequestContext context, ulong node, ulong fh, ulong owner, ref FuseFileLock @lock) => Errno.ENOSYS;

    public virtual Errno SetLk(in FuseRequestContext context, ulong node, ulong fh, ulong owner, in FuseFileLock @lock, bool wait, bool flock) => Errno.ENOSYS;

    public virtual Errno Access(in FuseRequestContext context, ulong node, int mask) => Errno.ENOSYS;

    public virtual Errno Create(in FuseRequestContext context, ulong parent, ReadOnlySpan<byte> name, int flags, uint mode, uint umask, ref FuseEntryOut entry, ref FuseOpenOut open) => Errno.ENOSYS;

    public virtual Errno Fallocate(in FuseRequestContext context, ulong node, ulong fh, ulong offset, ulong length, int mode) => Errno.ENOSYS;

    public virtual Errno Lseek(in FuseRequestContext context, ulong node, ulong fh, ulong offset, int whence, out ulong result)
    {
        result = 0;
        return Errno.ENOSYS;
    }

    public virtual Errno CopyFileRange(in FuseRequestContext context, ulong nodeIn, ulong fhIn, ulong offsetIn, ulong nodeOut, ulong fhOut, ulong offsetOut, ulong length, ulong flags, out ulong copied)
    {
        copied = 0;
        return Errno.ENOSYS;
    }
}
