using System.Diagnostics;
using System.Runtime.InteropServices;

namespace Spectrum.Interop;

/// <summary>
/// The unprivileged mount path: libfuse's setuid helper <c>fusermount3</c> opens /dev/fuse,
/// mounts it, and hands the fd back over the Unix socket named by the <c>_FUSE_COMMFD</c>
/// environment variable as SCM_RIGHTS ancillary data (libfuse util/fusermount.c, send_fd).
/// </summary>
public static partial class FuseUserMount
{
    private const int AF_UNIX = 1;
    private const int SOCK_STREAM = 1;
    private const int SOL_SOCKET = 1;
    private const int SCM_RIGHTS = 1;
    private const int F_SETFD = 2;
    private const int FD_CLOEXEC = 1;

    /// <summary>The helper's path on PATH, or null when fuse3 is not installed.</summary>
    public static string? FindHelper() =>
        Executables.Find("fusermount3") ?? Executables.Find("/usr/bin/fusermount3");

    /// <summary>
    /// Mounts with <c>fusermount3 -o OPTIONS -- TARGET</c> and returns the connection's fd.
    /// </summary>
    /// <param name="target">The mount point, a directory the caller owns.</param>
    /// <param name="options">fusermount options, e.g. <c>subtype=spectrum,fsname=spectrum,default_permissions</c>.</param>
    public static unsafe SafeFd Mount(string target, string options)
    {
        var helper = FindHelper() ?? throw new SysCallException("fusermount3", Errno.ENOENT, "install the fuse3 package");
        var pair = stackalloc int[2];
        // safe because: pair is a 2-int stack block, what socketpair(2) writes.
        if (socketpair(AF_UNIX, SOCK_STREAM, 0, pair) != 0)
        {
            throw new SysCallException("socketpair", LastErrno());
        }

        // Our end must not leak into the helper (or any other child); the helper's end must be inherited.
        using var ours = new SafeFd(pair[0]);
        using var theirs = new SafeFd(pair[1]);
        if (fcntl(ours, F_SETFD, FD_CLOEXEC) != 0)
        {
            throw new SysCallException("fcntl", LastErrno());
        }

        var start = new ProcessStartInfo(helper)
        {
            UseShellExecute = false,
            RedirectStandardError = true,
        };
        start.ArgumentList.Add("-o");
        start.ArgumentList.Add(options);
        start.ArgumentList.Add("--");
        start.ArgumentList.Add(target);
        start.Environment["_FUSE_COMMFD"] = pair[1].ToString(System.Globalization.CultureInfo.InvariantCulture);
        using var process = Process.Start(start) ?? throw new SysCallException("fusermount3", Errno.ENOENT, target);
        theirs.Dispose();
        var fd = ReceiveFd(ours);
        var stderr = process.StandardError.ReadToEnd();
        process.WaitForExit();
        if (fd is null)
        {
            throw new SysCallException("fusermount3", Errno.EIO, $"{target}: {stderr.Trim()}");
        }

        return fd;
    }

    /// <summary>Unmounts with <c>fusermount3 -u -z -- TARGET</c> (lazy, like MNT_DETACH); returns whether it succeeded.</summary>
    public static bool Unmount(string target)
    {
        var helper = FindHelper();
        if (helper is null)
        {
            return false;
        }

        var start = new ProcessStartInfo(helper) { UseShellExecute = false, RedirectStandardError = true };
        foreach (var argument in new[] { "-u", "-z", "--", target })
        {
            start.ArgumentList.Add(argument);
        }

        using var process = Process.Start(start);
        if (process is null)
        {
            return false;
        }

        process.StandardError.ReadToEnd();
        process.WaitForExit();
        return process.ExitCode == 0;
    }

    [StructLayout(LayoutKind.Sequential)]
    private unsafe struct IoVec
    {
        public void* Base;
        public nuint Length;
    }

    [StructLayout(LayoutKind.Sequential)]
    private unsafe struct MsgHdr
    {
        public void* Name;
        public uint NameLength;
        public IoVec* Iov;
        public nuint IovLength;
        public void* Control;
        public nuint ControlLength;
        public int Flags;
    }

    private static unsafe SafeFd? ReceiveFd(SafeFd socket)
    {
        byte data;
        // CMSG_SPACE(sizeof(int)) on LP64: 16-byte cmsghdr + 4 bytes, aligned to 8 = 24.
        var control = stackalloc ulong[3];
        var iov = new IoVec { Base = &data, Length = 1 };
        var message = new MsgHdr { Iov = &iov, IovLength = 1, Control = control, ControlLength = 24 };
        nint n;
        do
        {
            // safe because: message, iov, data and control all live on this stack frame for the call.
            n = recvmsg(socket, &message, 0);
        }
        while (n < 0 && LastErrno() == Errno.EINTR);

        if (n <= 0 || message.ControlLength < 20)
        {
            return null;
        }

        // struct cmsghdr { size_t cmsg_len; int cmsg_level; int cmsg_type; unsigned char data[]; }
        // safe because: control is the 24-byte stack block above and the kernel reported at least
        // 20 bytes of it filled (header + one int), so offsets 8..19 are within what it wrote.
        var header = (byte*)control;
        var level = *(int*)(header + 8);
        var type = *(int*)(header + 12);
        return level == SOL_SOCKET && type == SCM_RIGHTS ? new SafeFd(*(int*)(header + 16)) : null;
    }

    private static Errno LastErrno() => (Errno)Marshal.GetLastPInvokeError();

    [LibraryImport("libc", SetLastError = true)]
    private static unsafe partial int socketpair(int domain, int type, int protocol, int* fds);

    [LibraryImport("libc", SetLastError = true)]
    private static partial int fcntl(SafeFd fd, int command, int argument);

    [LibraryImport("libc", SetLastError = true)]
    private static unsafe partial nint recvmsg(SafeFd socket, MsgHdr* message, int flags);
}
