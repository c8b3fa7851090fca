using System.Runtime.InteropServices;

namespace Spectrum.Interop;

/// <summary>
/// The FUSE character device <c>/dev/fuse</c>: open, clone per reader thread, message-framed
/// read and write, and the passthrough backing-file ioctls. One read returns exactly one request
/// and one write carries exactly one reply or notification (the kernel's framing, fs/fuse/dev.c).
/// </summary>
public static partial class FuseDevice
{
    private const int O_RDWR = 2;
    private const int O_CLOEXEC = 0x80000;

    // <linux/fuse.h>: FUSE_DEV_IOC_MAGIC 229. The _IOR/_IOW encoding is the asm-generic one,
    // which x86_64 and aarch64 share: dir << 30 | size << 16 | type << 8 | nr.
    private const uint FUSE_DEV_IOC_CLONE = (2u << 30) | (4u << 16) | (229u << 8) | 0;         // _IOR(229, 0, uint32_t)
    private const uint FUSE_DEV_IOC_BACKING_OPEN = (1u << 30) | (16u << 16) | (229u << 8) | 1; // _IOW(229, 1, struct fuse_backing_map)
    private const uint FUSE_DEV_IOC_BACKING_CLOSE = (1u << 30) | (4u << 16) | (229u << 8) | 2; // _IOW(229, 2, uint32_t)

    /// <summary>struct fuse_backing_map (kernel 6.9+, protocol 7.40).</summary>
    [StructLayout(LayoutKind.Sequential)]
    public struct BackingMap
    {
        public int Fd;
        public uint Flags;
        public ulong Padding;
    }

    /// <summary>Opens a new, unmounted FUSE connection (<c>/dev/fuse</c>, O_RDWR | O_CLOEXEC).</summary>
    public static SafeFd Open()
    {
        var fd = open("/dev/fuse", O_RDWR | O_CLOEXEC);
        return fd >= 0 ? new SafeFd(fd) : throw new SysCallException("open", LastErrno(), "/dev/fuse");
    }

    /// <summary>
    /// A second fd on the same connection (FUSE_DEV_IOC_CLONE), so that each reader thread has
    /// its own: the kernel then routes replies by the fd the request was read from, and readers
    /// do not contend on one file's lock.
    /// </summary>
    public static unsafe SafeFd Clone(SafeFd session)
    {
        var clone = Open();
        var added = false;
        try
        {
            session.DangerousAddRef(ref added);
            var master = (uint)session.DangerousGetHandle().ToInt64();
            // safe because: master is a stack local the kernel reads 4 bytes from (_IOR of uint32_t).
            if (ioctl(clone, FUSE_DEV_IOC_CLONE, &master) != 0)
            {
                var errno = LastErrno();
                clone.Dispose();
                throw new SysCallException("ioctl(FUSE_DEV_IOC_CLONE)", errno);
            }

            return clone;
        }
        finally
        {
            if (added)
            {
                session.DangerousRelease();
            }
        }
    }

    /// <summary>
    /// Reads one request. Retries EINTR, EAGAIN and ENOENT (a request interrupted between being
    /// queued and read). Returns <see cref="Errno.ENODEV"/> once the filesystem is unmounted or
    /// the connection aborted, any other errno as is.
    /// </summary>
    public static unsafe Errno Read(SafeFd fd, Span<byte> buffer, out int length)
    {
        while (true)
        {
            nint n;
            // safe because: the span is pinned for the call and the kernel writes at most buffer.Length bytes.
            fixed (byte* p = buffer)
            {
                n = read(fd, p, (nuint)buffer.Length);
            }

            if (n >= 0)
            {
                length = (int)n;
                return Errno.OK;
            }

            var errno = LastErrno();
            if (errno is Errno.EINTR or Errno.EAGAIN or Errno.ENOENT)
            {
                continue;
            }

            length = 0;
            return errno;
        }
    }

    /// <summary>
    /// Writes one reply or notification. ENOENT means the request is gone (interrupted or
    /// aborted): not an error for the caller. EINTR is retried.
    /// </summary>
    public static unsafe Errno Write(SafeFd fd, ReadOnlySpan<byte> message)
    {
        while (true)
        {
            nint n;
            // safe because: the span is pinned for the call and the kernel reads message.Length bytes.
            fixed (byte* p = message)
            {
                n = write(fd, p, (nuint)message.Length);
            }

            if (n >= 0)
            {
                return Errno.OK;
            }

            var errno = LastErrno();
            if (errno != Errno.EINTR)
            {
                return errno;
            }
        }
    }

    /// <summary>
    /// Registers <paramref name="backing"/> as a passthrough backing file (FUSE_DEV_IOC_BACKING_OPEN,
    /// needs CAP_SYS_ADMIN and a connection that negotiated FUSE_PASSTHROUGH). Returns the backing
    /// id (&gt; 0) to put in fuse_open_out, or a negative errno.
    /// </summary>
    public static unsafe int OpenBacking(SafeFd session, SafeHandle backing)
    {
        var added = false;
        try
        {
            backing.DangerousAddRef(ref added);
            var map = new BackingMap { Fd = (int)backing.DangerousGetHandle().ToInt64() };
            // safe because: map is a stack local of the 16 bytes the ioctl reads.
            var id = ioctl(session, FUSE_DEV_IOC_BACKING_OPEN, &map);
            return id >= 0 ? id : -(int)LastErrno();
        }
        finally
        {
            if (added)
            {
                backing.DangerousRelease();
            }
        }
    }

    /// <summary>Drops a backing id (FUSE_DEV_IOC_BACKING_CLOSE); files already open keep their backing file.</summary>
    public static unsafe Errno CloseBacking(SafeFd session, int backingId)
    {
        var id = (uint)backingId;
        // safe because: id is a stack local of the 4 bytes the ioctl reads.
        return ioctl(session, FUSE_DEV_IOC_BACKING_CLOSE, &id) == 0 ? Errno.OK : LastErrno();
    }

    /// <summary>
    /// Mounts the connection at <paramref name="target"/> with mount(2) (needs CAP_SYS_ADMIN).
    /// The filesystem type is <c>fuse.<paramref name="subtype"/></c>, which is how
    /// /proc/self/mountinfo later recognizes our mounts.
    /// </summary>
    /// <param name="session">The connection, from <see cref="Open"/>.</param>
    /// <param name="target">The mount point (an absolute path to a directory).</param>
    /// <param name="subtype">The filesystem's name: type <c>fuse.subtype</c>, and the mount's source.</param>
    /// <param name="options">Extra comma-separated FUSE options (allow_other, default_permissions, max_read=…), or empty.</param>
    /// <param name="flags">MS_* flags, e.g. <see cref="Spectrum.Interop.Mount.MS_NOSUID"/> | <see cref="Spectrum.Interop.Mount.MS_NODEV"/>.</param>
    public static void Mount(SafeFd session, string target, string subtype, string options, ulong flags)
    {
        var added = false;
        try
        {
            session.DangerousAddRef(ref added);
            var fd = session.DangerousGetHandle().ToInt64();
            // rootmode is the root's file type (S_IFDIR, octal 40000); user_id/group_id name who
            // may use the mount without allow_other: the mounter.
            var data = $"fd={fd},rootmode=40000,user_id={geteuid()},group_id={getegid()}{(options.Length == 0 ? "" : "," + options)}";
            Spectrum.Interop.Mount.MountFilesystem(subtype, target, "fuse." + subtype, flags, data);
        }
        finally
        {
            if (added)
            {
                session.DangerousRelease();
            }
        }
    }

    private static Errno LastErrno() => (Errno)Marshal.GetLastPInvokeError();

    [LibraryImport("libc", EntryPoint = "open", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int open(string path, int flags);

    [LibraryImport("libc", SetLastError = true)]
    private static unsafe partial nint read(SafeFd fd, byte* buffer, nuint count);

    [LibraryImport("libc", SetLastError = true)]
    private static unsafe partial nint write(SafeFd fd, byte* buffer, nuint count);

    [LibraryImport("libc", SetLastError = true)]
    private static unsafe partial int ioctl(SafeFd fd, nuint request, void* argument);

    [LibraryImport("libc")]
    private static partial uint geteuid();

    [LibraryImport("libc")]
    private static partial uint getegid();
}
