using System.Runtime.InteropServices;

namespace Spectrum.Interop;

/// <summary>l_type of a <see cref="LockRecord"/>.</summary>
public enum LockType : short
{
    /// <summary>F_RDLCK: shared.</summary>
    Read = 0,

    /// <summary>F_WRLCK: exclusive.</summary>
    Write = 1,

    /// <summary>F_UNLCK: release (or, from <see cref="Posix.GetLock"/>, no conflict).</summary>
    Unlock = 2,
}

/// <summary>flock(2) operations.</summary>
[Flags]
public enum FlockOperation
{
    /// <summary>LOCK_SH.</summary>
    Shared = 1,

    /// <summary>LOCK_EX.</summary>
    Exclusive = 2,

    /// <summary>LOCK_NB: fail with EWOULDBLOCK rather than wait.</summary>
    NonBlocking = 4,

    /// <summary>LOCK_UN.</summary>
    Unlock = 8,
}

/// <summary>
/// struct flock (32 bytes on 64-bit Linux): a byte-range lock. For OFD locks <see cref="Pid"/> must be
/// 0 when setting; <see cref="Posix.GetLock"/> reports -1 for a conflicting OFD lock.
/// </summary>
[StructLayout(LayoutKind.Sequential)]
public struct LockRecord
{
    private short _type;
    private short _whence;
    private long _start;
    private long _len;
    private int _pid;

    public LockRecord(LockType type, long start, long length, SeekWhence whence = SeekWhence.Set)
    {
        _type = (short)type;
        _whence = (short)whence;
        _start = start;
        _len = length;
        _pid = 0;
    }

    public LockType Type
    {
        readonly get => (LockType)_type;
        set => _type = (short)value;
    }

    /// <summary>l_whence: what <see cref="Start"/> is relative to.</summary>
    public SeekWhence Whence
    {
        readonly get => (SeekWhence)_whence;
        set => _whence = (short)value;
    }

    public long Start
    {
        readonly get => _start;
        set => _start = value;
    }

    /// <summary>l_len: 0 means to the end of the file, however far it grows.</summary>
    public long Length
    {
        readonly get => _len;
        set => _len = value;
    }

    public int Pid
    {
        readonly get => _pid;
        set => _pid = value;
    }
}

// Open-file-description locks (F_OFD_*): owned by the open file, not the process, so two fds the
// broker opens for two guests' opens conflict with each other as the guests expect, and closing one
// fd never drops the other's locks (classic POSIX locks would do both wrong in one process).
public static partial class Posix
{
    private const int F_OFD_GETLK = 36;
    private const int F_OFD_SETLK = 37;
    private const int F_OFD_SETLKW = 38;

    /// <summary>
    /// fcntl(fd, F_OFD_GETLK, lk): on return <paramref name="lk"/> is the first conflicting lock, or its
    /// <see cref="LockRecord.Type"/> is <see cref="LockType.Unlock"/> when none conflicts.
    /// </summary>
    public static unsafe Errno GetLock(SafeFd fd, ref LockRecord lk)
    {
        using var h = new Held(fd);
        if (!h.Ok)
        {
            return Errno.EBADF;
        }

        int rc;
        // safe because: lk is the caller's 32-byte struct flock, pinned for the call.
        fixed (LockRecord* p = &lk)
        {
            while ((rc = fcntl(h.Fd, F_OFD_GETLK, p)) < 0 && LastErrno() == Errno.EINTR)
            {
            }
        }

        return rc < 0 ? LastErrno() : Errno.OK;
    }

    /// <summary>fcntl(fd, F_OFD_SETLK, lk): takes or releases without waiting; a conflict is <see cref="Errno.EAGAIN"/>.</summary>
    public static Errno SetLock(SafeFd fd, in LockRecord lk) => SetLock(fd, lk, F_OFD_SETLK);

    /// <summary>
    /// fcntl(fd, F_OFD_SETLKW, lk): waits for a conflicting lock to go. EINTR is NOT retried: a signal
    /// sent to the waiting thread is how a FUSE_INTERRUPT cancels the wait; a deadlock is <see cref="Errno.EDEADLK"/>.
    /// </summary>
    public static Errno SetLockWait(SafeFd fd, in LockRecord lk) => SetLock(fd, lk, F_OFD_SETLKW);

    /// <summary>
    /// flock(fd, operation): whole-file BSD lock, also per open file. A blocking request's EINTR is
    /// returned (see <see cref="SetLockWait"/>); with <see cref="FlockOperation.NonBlocking"/> it is retried.
    /// </summary>
    public static Errno Flock(SafeFd fd, FlockOperation operation)
    {
        using var h = new Held(fd);
        if (!h.Ok)
        {
            return Errno.EBADF;
        }

        var retry = (operation & FlockOperation.NonBlocking) != 0 || operation == FlockOperation.Unlock;
        int rc;
        while ((rc = flock(h.Fd, (int)operation)) < 0 && retry && LastErrno() == Errno.EINTR)
        {
        }

        return rc < 0 ? LastErrno() : Errno.OK;
    }

    private static unsafe Errno SetLock(SafeFd fd, LockRecord lk, int command)
    {
        using var h = new Held(fd);
        if (!h.Ok)
        {
            return Errno.EBADF;
        }

        int rc;
        // safe because: lk is a copy on this stack frame, a 32-byte struct flock as fcntl reads.
        while ((rc = fcntl(h.Fd, command, &lk)) < 0 && command == F_OFD_SETLK && LastErrno() == Errno.EINTR)
        {
        }

        return rc < 0 ? LastErrno() : Errno.OK;
    }

    // fcntl is variadic; its third argument is passed as one pointer-sized integer register on x86_64 and aarch64.
    [LibraryImport("libc", SetLastError = true)]
    private static unsafe partial int fcntl(int fd, int cmd, LockRecord* lk);

    [LibraryImport("libc", SetLastError = true)]
    private static partial int flock(int fd, int operation);
}
