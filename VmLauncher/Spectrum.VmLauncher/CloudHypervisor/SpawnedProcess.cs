using System.ComponentModel;
using System.Runtime.InteropServices;

namespace Spectrum.VmLauncher.CloudHypervisor;

/// <summary>
/// A child started with posix_spawn that inherits exactly one extra descriptor at a fixed number,
/// and is reaped by its own waiter thread.
/// <para>
/// Why not System.Diagnostics.Process: it cannot hand a child anything but stdio, and .NET opens
/// every descriptor O_CLOEXEC. posix_spawn's file actions run in the child between fork and exec:
/// <c>dup2(listener, 3)</c> yields a copy without FD_CLOEXEC, so exactly that socket crosses the
/// exec (plus the stdio set up here), whatever other threads of the broker are doing meanwhile.
/// Why not <c>sh -c '… 3&lt;&amp;N'</c>: N is CLOEXEC, so it is already closed in the shell; and
/// reopening <c>/proc/PID/fd/N</c> does not work for sockets.
/// </para>
/// <para>
/// Reaping: the waiter first waits with WNOWAIT, which leaves the child a zombie, and reaps it under
/// the same lock that <see cref="TrySignal"/> takes. A pid is therefore never signalled after it
/// was reaped (and possibly reused). .NET's own SIGCHLD handling only reaps children it started.
/// </para>
/// </summary>
internal sealed class SpawnedProcess
{
    private readonly Lock gate = new();
    private readonly TaskCompletionSource<int> exited = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private bool reaped;

    private SpawnedProcess(int pid)
    {
        Pid = pid;
        var waiter = new Thread(Wait) { IsBackground = true, Name = $"ch-wait-{pid}" };
        waiter.Start();
    }

    public int Pid { get; }

    /// <summary>The exit status as .NET reports it: the exit code, or 128 + the signal number.</summary>
    public Task<int> Exited => exited.Task;

    /// <summary>
    /// Starts <paramref name="file"/> (looked up on PATH) with <paramref name="arguments"/>; stdin is
    /// /dev/null, stdout and stderr append to <paramref name="logPath"/>, and
    /// <paramref name="inherited"/> becomes descriptor <paramref name="targetFd"/> in the child.
    /// SIGPIPE, which the .NET runtime ignores, is reset to its default, and no signal is blocked.
    /// </summary>
    /// <exception cref="Win32Exception">posix_spawn failed (ENOENT: no such executable).</exception>
    public static SpawnedProcess Start(string file, IReadOnlyList<string> arguments, SafeHandle inherited, int targetFd, string logPath)
    {
        ArgumentException.ThrowIfNullOrEmpty(file);
        ArgumentNullException.ThrowIfNull(arguments);
        ArgumentNullException.ThrowIfNull(inherited);
        ArgumentOutOfRangeException.ThrowIfLessThan(targetFd, 3);

        var allocations = new List<nint>();
        nint Alloc(int size)
        {
            var p = Marshal.AllocHGlobal(size);
            allocations.Add(p);
            Marshal.Copy(new byte[size], 0, p, size);
            return p;
        }

        nint Utf8(string s)
        {
            var p = Marshal.StringToCoTaskMemUTF8(s);
            allocations.Add(p);
            return p;
        }

        var actions = Alloc(SpawnNative.FileActionsSize);
        var attr = Alloc(SpawnNative.SpawnAttrSize);
        var mask = Alloc(SpawnNative.SigsetSize);
        var defaults = Alloc(SpawnNative.SigsetSize);
        bool actionsReady = false, attrReady = false, addedRef = false;
        try
        {
            var argv = new nint[arguments.Count + 2];
            argv[0] = Utf8(file);
            for (var i = 0; i < arguments.Count; i++)
            {
                argv[i + 1] = Utf8(arguments[i]);
            }

            var environment = Environment.GetEnvironmentVariables();
            var envp = new nint[environment.Count + 1];
            var n = 0;
            foreach (System.Collections.DictionaryEntry entry in environment)
            {
                envp[n++] = Utf8($"{entry.Key}={entry.Value}");
            }

            Check(SpawnNative.posix_spawn_file_actions_init(actions), "posix_spawn_file_actions_init");
            actionsReady = true;
            Check(SpawnNative.posix_spawn_file_actions_addopen(actions, 0, Utf8("/dev/null"), SpawnNative.O_RDONLY, 0), "addopen stdin");
            Check(SpawnNative.posix_spawn_file_actions_addopen(actions, 1, Utf8(logPath), SpawnNative.O_WRONLY | SpawnNative.O_CREAT | SpawnNative.O_APPEND, 0x180 /* 0600 */), "addopen stdout");
            Check(SpawnNative.posix_spawn_file_actions_adddup2(actions, 1, 2), "adddup2 stderr");

            Check(SpawnNative.posix_spawnattr_init(attr), "posix_spawnattr_init");
            attrReady = true;
            Check(SpawnNative.sigemptyset(mask) == 0 ? 0 : Marshal.GetLastPInvokeError(), "sigemptyset");
            Check(SpawnNative.sigemptyset(defaults) == 0 ? 0 : Marshal.GetLastPInvokeError(), "sigemptyset");
            Check(SpawnNative.sigaddset(defaults, SpawnNative.SIGPIPE) == 0 ? 0 : Marshal.GetLastPInvokeError(), "sigaddset");
            Check(SpawnNative.posix_spawnattr_setsigmask(attr, mask), "posix_spawnattr_setsigmask");
            Check(SpawnNative.posix_spawnattr_setsigdefault(attr, defaults), "posix_spawnattr_setsigdefault");
            Check(SpawnNative.posix_spawnattr_setflags(attr, SpawnNative.POSIX_SPAWN_SETSIGMASK | SpawnNative.POSIX_SPAWN_SETSIGDEF), "posix_spawnattr_setflags");

            // The raw descriptor is only used while the handle is referenced, so it cannot be
            // closed and reused by another thread before the child has its copy.
            inherited.DangerousAddRef(ref addedRef);
            var fd = (int)inherited.DangerousGetHandle();
            Check(SpawnNative.posix_spawn_file_actions_adddup2(actions, fd, targetFd), "adddup2 inherited");
            AddCloseFrom(actions, targetFd + 1);

            var error = SpawnNative.posix_spawnp(out var pid, argv[0], actions, attr, argv, envp);
            if (error != 0)
            {
                throw new Win32Exception(error, $"posix_spawnp {file}: {new Win32Exception(error).Message}");
            }

            return new SpawnedProcess(pid);
        }
        finally
        {
            if (addedRef)
            {
                inherited.DangerousRelease();
            }

            if (actionsReady)
            {
                _ = SpawnNative.posix_spawn_file_actions_destroy(actions);
            }

            if (attrReady)
            {
                _ = SpawnNative.posix_spawnattr_destroy(attr);
            }

            foreach (var p in allocations)
            {
                Marshal.FreeHGlobal(p);
            }
        }
    }

    /// <summary>Sends <paramref name="signal"/> unless the child was already reaped; false if it was.</summary>
    public bool TrySignal(int signal)
    {
        lock (gate)
        {
            return !reaped && SpawnNative.kill(Pid, signal) == 0;
        }
    }

    // .NET opens everything O_CLOEXEC, but descriptors the broker itself inherited without it (from
    // a shell, a test host, a service manager) would still reach the VMM: close all above the one
    // it is meant to have. Where libc lacks closefrom (musl, glibc < 2.34) only those can leak.
    private static void AddCloseFrom(nint actions, int from)
    {
        try
        {
            Check(SpawnNative.posix_spawn_file_actions_addclosefrom_np(actions, from), "addclosefrom");
        }
        catch (EntryPointNotFoundException)
        {
        }
    }

    private static void Check(int error, string what)
    {
        if (error != 0)
        {
            throw new Win32Exception(error, $"{what}: {new Win32Exception(error).Message}");
        }
    }

    private void Wait()
    {
        var siginfo = Marshal.AllocHGlobal(SpawnNative.SiginfoSize);
        try
        {
            // Wait for the exit without reaping (the zombie keeps the pid ours).
            while (SpawnNative.waitid(SpawnNative.P_PID, Pid, siginfo, SpawnNative.WEXITED | SpawnNative.WNOWAIT) != 0
                && Marshal.GetLastPInvokeError() == SpawnNative.EINTR)
            {
            }

            int status;
            lock (gate)
            {
                int result;
                do
                {
                    result = SpawnNative.waitpid(Pid, out status, 0);
                }
                while (result < 0 && Marshal.GetLastPInvokeError() == SpawnNative.EINTR);

                reaped = true;

                // ECHILD: someone else reaped it (SIGCHLD ignored by the host process); status unknown.
                if (result < 0)
                {
                    status = 0xff << 8;
                }
            }

            var signal = status & 0x7f;
            exited.TrySetResult(signal == 0 ? (status >> 8) & 0xff : 128 + signal);
        }
        finally
        {
            Marshal.FreeHGlobal(siginfo);
        }
    }
}
