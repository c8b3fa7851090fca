using System.Runtime.InteropServices;

namespace Spectrum.Interop;

/// <summary>poll(2) event bits.</summary>
[Flags]
public enum PollEvents : short
{
    None = 0,

    /// <summary>POLLIN.</summary>
    In = 0x001,

    /// <summary>POLLPRI: for /proc/self/mountinfo, the mount table changed since the fd last polled.</summary>
    Priority = 0x002,

    /// <summary>POLLOUT.</summary>
    Out = 0x004,

    /// <summary>POLLERR (reported with <see cref="Priority"/> for a mount table change).</summary>
    Error = 0x008,

    /// <summary>POLLHUP.</summary>
    HangUp = 0x010,

    /// <summary>POLLNVAL: the fd is not open.</summary>
    Invalid = 0x020,
}

public static partial class Posix
{
    [StructLayout(LayoutKind.Sequential)]
    private struct PollFd
    {
        public int Fd;
        public short Events;
        public short Revents;
    }

    /// <summary>
    /// poll(2) on one fd: <paramref name="revents"/> is what is ready after at most
    /// <paramref name="timeoutMs"/> ms (0: do not wait; -1: wait until something is). EINTR is
    /// retried (with the whole timeout again).
    /// </summary>
    public static unsafe Errno Poll(SafeFd fd, PollEvents events, int timeoutMs, out PollEvents revents)
    {
        revents = PollEvents.None;
        using var h = new Held(fd);
        if (!h.Ok)
        {
            return Errno.EBADF;
        }

        var p = new PollFd { Fd = h.Fd, Events = (short)events };
        int rc;
        // safe because: p is a stack local that outlives the call, and nfds is 1.
        while ((rc = poll(&p, 1, timeoutMs)) < 0 && LastErrno() == Errno.EINTR)
        {
        }

        if (rc < 0)
        {
            return LastErrno();
        }

        revents = (PollEvents)p.Revents;
        return Errno.OK;
    }

    [LibraryImport("libc", SetLastError = true)]
    private static unsafe partial int poll(PollFd* fds, nuint nfds, int timeout);
}
