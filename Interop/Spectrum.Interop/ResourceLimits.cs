using System.Runtime.InteropServices;

namespace Spectrum.Interop;

/// <summary>A soft and a hard resource limit, as getrlimit(2) returns them (<see cref="ulong.MaxValue"/> is RLIM_INFINITY).</summary>
public readonly record struct ResourceLimit(ulong Soft, ulong Hard);

/// <summary>getrlimit(2) and setrlimit(2), for the broker's file descriptor limit.</summary>
public static partial class ResourceLimits
{
    // <asm-generic/resource.h>: the same on x86_64 and aarch64.
    private const int RLIMIT_NOFILE = 7;

    [StructLayout(LayoutKind.Sequential)]
    private struct RLimit
    {
        public ulong Cur;
        public ulong Max;
    }

    /// <summary>RLIMIT_NOFILE of this process.</summary>
    public static ResourceLimit GetOpenFiles()
    {
        if (getrlimit(RLIMIT_NOFILE, out var limit) != 0)
        {
            throw new SysCallException("getrlimit(RLIMIT_NOFILE)", (Errno)Marshal.GetLastPInvokeError());
        }

        return new ResourceLimit(limit.Cur, limit.Max);
    }

    /// <summary>
    /// Raises the soft RLIMIT_NOFILE to the hard limit (an unprivileged process may always do
    /// that) and returns the limit now in force. The kernel caps the value at fs.nr_open, so an
    /// infinite hard limit is tried as nr_open when setrlimit refuses it (EPERM).
    /// </summary>
    public static ResourceLimit RaiseOpenFilesToHard()
    {
        var current = GetOpenFiles();
        if (current.Soft >= current.Hard)
        {
            return current;
        }

        var wanted = new RLimit { Cur = current.Hard, Max = current.Hard };
        if (setrlimit(RLIMIT_NOFILE, in wanted) != 0)
        {
            var errno = (Errno)Marshal.GetLastPInvokeError();
            if (errno != Errno.EPERM || !TryReadNrOpen(out var nrOpen) || nrOpen >= current.Hard)
            {
                throw new SysCallException("setrlimit(RLIMIT_NOFILE)", errno);
            }

            wanted.Cur = nrOpen;
            if (setrlimit(RLIMIT_NOFILE, in wanted) != 0)
            {
                throw new SysCallException("setrlimit(RLIMIT_NOFILE)", (Errno)Marshal.GetLastPInvokeError());
            }
        }

        return GetOpenFiles();
    }

    private static bool TryReadNrOpen(out ulong value)
    {
        value = 0;
        try
        {
            return ulong.TryParse(File.ReadAllText("/proc/sys/fs/nr_open").Trim(), System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out value);
        }
        catch (IOException)
        {
            return false;
        }
    }

    [LibraryImport("libc", SetLastError = true)]
    private static partial int getrlimit(int resource, out RLimit limit);

    [LibraryImport("libc", SetLastError = true)]
    private static partial int setrlimit(int resource, in RLimit limit);
}
