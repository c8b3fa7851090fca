using System.Runtime.InteropServices;

namespace Spectrum.Interop;

/// <summary>File handles: name_to_handle_at and open_by_handle_at (see <see cref="Posix"/> for the conventions).</summary>
public static partial class Posix
{
    /// <summary>MAX_HANDLE_SZ: the largest file handle the kernel hands out, in bytes.</summary>
    public const int MaxHandleSize = 128;

    /// <summary>
    /// name_to_handle_at(fd, "", AT_EMPTY_PATH): the file handle of the object <paramref name="fd"/>
    /// refers to (an O_PATH fd works), written to <paramref name="handle"/> (at least
    /// <see cref="MaxHandleSize"/> bytes). A handle names the object itself, not a path, and carries
    /// its generation, so it never names a later file that reuses the inode number. EOPNOTSUPP on a
    /// filesystem without handles.
    /// </summary>
    public static unsafe Errno GetHandle(SafeFd fd, Span<byte> handle, out int type, out int length)
    {
        type = 0;
        length = 0;
        if (handle.Length < MaxHandleSize)
        {
            return Errno.EINVAL;
        }

        using var d = new Held(fd);
        if (!d.Ok)
        {
            return Errno.EBADF;
        }

        // struct file_handle { u32 handle_bytes; i32 handle_type; u8 f_handle[]; }
        var buffer = stackalloc byte[8 + MaxHandleSize];
        *(uint*)buffer = MaxHandleSize;
        int mountId;
        // safe because: buffer holds the 8-byte header and MaxHandleSize bytes, as handle_bytes says; Empty is NUL-terminated.
        fixed (byte* empty = Empty)
        {
            if (name_to_handle_at(d.Fd, empty, buffer, &mountId, AT_EMPTY_PATH) != 0)
            {
                return LastErrno();
            }
        }

        length = (int)Math.Min(*(uint*)buffer, MaxHandleSize);
        type = *(int*)(buffer + 4);
        new ReadOnlySpan<byte>(buffer + 8, length).CopyTo(handle);
        return Errno.OK;
    }

    /// <summary>
    /// open_by_handle_at(mount, handle, flags | O_CLOEXEC): opens the object a handle from
    /// <see cref="GetHandle"/> names, on the filesystem <paramref name="mount"/> is on
    /// (<paramref name="mount"/> must be a real open fd: the kernel answers EBADF for O_PATH). Needs
    /// CAP_DAC_READ_SEARCH (EPERM otherwise); ESTALE when the object no longer exists. With
    /// <see cref="OpenFlags.Path"/> a symlink is opened itself, never followed.
    /// </summary>
    public static unsafe Errno OpenByHandle(SafeFd mount, int type, ReadOnlySpan<byte> handle, OpenFlags flags, out SafeFd? fd)
    {
        fd = null;
        if (handle.Length > MaxHandleSize)
        {
            return Errno.EINVAL;
        }

        using var m = new Held(mount);
        if (!m.Ok)
        {
            return Errno.EBADF;
        }

        var buffer = stackalloc byte[8 + MaxHandleSize];
        *(uint*)buffer = (uint)handle.Length;
        *(int*)(buffer + 4) = type;
        handle.CopyTo(new Span<byte>(buffer + 8, MaxHandleSize));
        int rc;
        // safe because: buffer holds the header and handle.Length bytes, as handle_bytes says.
        while ((rc = open_by_handle_at(m.Fd, buffer, (int)(flags | OpenFlags.CloseOnExec))) < 0 && LastErrno() == Errno.EINTR)
        {
        }

        if (rc < 0)
        {
            return LastErrno();
        }

        fd = new SafeFd(rc);
        return Errno.OK;
    }

    [LibraryImport("libc", SetLastError = true)]
    private static unsafe partial int name_to_handle_at(int dirfd, byte* path, byte* handle, int* mountId, int flags);

    [LibraryImport("libc", SetLastError = true)]
    private static unsafe partial int open_by_handle_at(int mountFd, byte* handle, int flags);
}
