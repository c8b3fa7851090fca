using System.Runtime.InteropServices;

namespace Spectrum.VmLauncher.CloudHypervisor;

/// <summary>
/// libc's posix_spawn family, waitid/waitpid and kill: what it takes to start a child with one
/// extra inherited descriptor at a fixed number, which System.Diagnostics.Process cannot do
/// (it closes or CLOEXECs everything but stdio).
/// <para>
/// These are <c>DllImport</c>s with blittable signatures only (<c>nint</c>, <c>int</c>, <c>out int</c>,
/// <c>nint[]</c>), so no marshalling stub and no <c>unsafe</c> code is involved: the VmLauncher project
/// does not enable unsafe blocks, which <c>LibraryImport</c>'s generated code requires. Opaque libc
/// structures (<c>posix_spawn_file_actions_t</c>, <c>posix_spawnattr_t</c>, <c>sigset_t</c>,
/// <c>siginfo_t</c>) live in zeroed native buffers larger than glibc's and musl's layouts.
/// </para>
/// </summary>
internal static class SpawnNative
{
    // Generous upper bounds of the opaque types (glibc x86_64/aarch64: 80, 336, 128 and 128 bytes).
    internal const int FileActionsSize = 256;
    internal const int SpawnAttrSize = 1024;
    internal const int SigsetSize = 128;
    internal const int SiginfoSize = 256;

    // <spawn.h> (glibc, identical on x86_64 and aarch64).
    internal const short POSIX_SPAWN_SETSIGDEF = 0x04;
    internal const short POSIX_SPAWN_SETSIGMASK = 0x08;

    // <fcntl.h> (asm-generic values, shared by x86_64 and aarch64).
    internal const int O_RDONLY = 0;
    internal const int O_WRONLY = 1;
    internal const int O_CREAT = 0x40;
    internal const int O_APPEND = 0x400;

    // <sys/wait.h>
    internal const int P_PID = 1;
    internal const int WEXITED = 4;
    internal const int WNOWAIT = 0x01000000;

    // <signal.h>
    internal const int SIGKILL = 9;
    internal const int SIGPIPE = 13;
    internal const int SIGTERM = 15;

    internal const int EINTR = 4;

    // <sys/socket.h>
    internal const int AF_UNIX = 1;
    internal const int SOCK_STREAM = 1;
    internal const int SOCK_CLOEXEC = 0x80000;

    [DllImport("libc", ExactSpelling = true)]
    internal static extern int posix_spawn_file_actions_init(nint actions);

    [DllImport("libc", ExactSpelling = true)]
    internal static extern int posix_spawn_file_actions_destroy(nint actions);

    /// <summary>
    /// In the child, dup2(fd, newfd). When fd == newfd, glibc (2.29+) and musl clear FD_CLOEXEC
    /// instead (POSIX 2017, Austin Group issue 411), so the descriptor is inherited either way.
    /// </summary>
    [DllImport("libc", ExactSpelling = true)]
    internal static extern int posix_spawn_file_actions_adddup2(nint actions, int fd, int newfd);

    /// <summary>In the child, close every descriptor from <paramref name="from"/> up (glibc 2.34+; absent from musl).</summary>
    [DllImport("libc", ExactSpelling = true)]
    internal static extern int posix_spawn_file_actions_addclosefrom_np(nint actions, int from);

    [DllImport("libc", ExactSpelling = true)]
    internal static extern int posix_spawn_file_actions_addopen(nint actions, int fd, nint path, int oflag, uint mode);

    [DllImport("libc", ExactSpelling = true)]
    internal static extern int posix_spawnattr_init(nint attr);

    [DllImport("libc", ExactSpelling = true)]
    internal static extern int posix_spawnattr_destroy(nint attr);

    [DllImport("libc", ExactSpelling = true)]
    internal static extern int posix_spawnattr_setflags(nint attr, short flags);

    [DllImport("libc", ExactSpelling = true)]
    internal static extern int posix_spawnattr_setsigmask(nint attr, nint sigset);

    [DllImport("libc", ExactSpelling = true)]
    internal static extern int posix_spawnattr_setsigdefault(nint attr, nint sigset);

    [DllImport("libc", ExactSpelling = true)]
    internal static extern int sigemptyset(nint set);

    [DllImport("libc", ExactSpelling = true)]
    internal static extern int sigaddset(nint set, int signal);

    /// <summary>Returns 0 or an error number (posix_spawn does not use errno). <paramref name="argv"/> and <paramref name="envp"/> end with 0.</summary>
    [DllImport("libc", ExactSpelling = true)]
    internal static extern int posix_spawnp(out int pid, nint file, nint fileActions, nint attr, nint[] argv, nint[] envp);

    [DllImport("libc", ExactSpelling = true, SetLastError = true)]
    internal static extern int waitid(int idtype, int id, nint siginfo, int options);

    [DllImport("libc", ExactSpelling = true, SetLastError = true)]
    internal static extern int waitpid(int pid, out int status, int options);

    [DllImport("libc", ExactSpelling = true, SetLastError = true)]
    internal static extern int kill(int pid, int signal);

    [DllImport("libc", ExactSpelling = true, SetLastError = true)]
    internal static extern int socket(int domain, int type, int protocol);

    /// <summary><paramref name="address"/> is a <c>struct sockaddr_un</c> laid out by the caller.</summary>
    [DllImport("libc", ExactSpelling = true, SetLastError = true)]
    internal static extern int bind(int fd, byte[] address, int length);

    [DllImport("libc", ExactSpelling = true, SetLastError = true)]
    internal static extern int listen(int fd, int backlog);

    [DllImport("libc", ExactSpelling = true, SetLastError = true)]
    internal static extern int close(int fd);
}
