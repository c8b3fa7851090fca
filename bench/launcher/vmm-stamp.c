// vmm-stamp: stands in for the VMM in the launcher benchmark (bench/launcher/README.md).
//
// The broker runs this as its QEMU (SPECTRUM_QEMU), so the instant the launcher's exec lands and
// the instant the real VMM exits can be read off a clock both sides share:
//   1. at its very start, appends "exec PID NS 0" to $SPECTRUM_LBENCH_STAMPS (CLOCK_REALTIME, ns);
//   2. forks and execs $SPECTRUM_LBENCH_REAL with the same arguments (the child gets
//      PR_SET_PDEATHSIG=SIGKILL, so a killed wrapper never leaves a QEMU behind);
//   3. waits for it, appends "exit PID NS STATUS" (the raw wait status), and exits the way it did:
//      the same status, or the same signal re-raised.
// The broker sees the wrapper as the VMM: its pid, its stdio, its exit. QEMU's own sockets (QMP,
// the portal, vhost-user) are QEMU's and unaffected. SIGTERM, SIGINT, SIGHUP and SIGQUIT are
// forwarded to the child. The benchmark's reference runs the same binary with /bin/true as the real
// program, so the wrapper's own fork and wait are paid on both sides.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static volatile pid_t child;

static long long now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

// One write() of one short line with O_APPEND: lines from concurrent wrappers never interleave.
static void stamp(const char *file, const char *what, long long ns, int status)
{
    if (file == NULL || *file == '\0') {
        return;
    }

    int fd = open(file, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) {
        return;
    }

    char line[96];
    int n = snprintf(line, sizeof line, "%s %d %lld %d\n", what, (int)getpid(), ns, status);
    if (n > 0 && write(fd, line, (size_t)n) < 0) {
        // Nothing to do: a missing line makes the benchmark report the run as unmeasured.
    }

    close(fd);
}

static void forward(int sig)
{
    // child is 0 in the forked child until exec resets this handler: never kill(0, ...).
    if (child > 0) {
        kill(child, sig);
    }
}

int main(int argc, char **argv)
{
    long long start = now_ns();
    const char *file = getenv("SPECTRUM_LBENCH_STAMPS");
    const char *real = getenv("SPECTRUM_LBENCH_REAL");
    (void)argc;
    if (real == NULL || *real == '\0') {
        fprintf(stderr, "vmm-stamp: SPECTRUM_LBENCH_REAL is not set (the program to run)\n");
        return 127;
    }

    stamp(file, "exec", start, 0);

    static const int forwarded[] = { SIGTERM, SIGINT, SIGHUP, SIGQUIT };
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = forward;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART;
    for (size_t i = 0; i < sizeof forwarded / sizeof forwarded[0]; i++) {
        sigaction(forwarded[i], &sa, NULL);
    }

    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0) {
        fprintf(stderr, "vmm-stamp: fork: %s\n", strerror(errno));
        return 127;
    }

    if (pid == 0) {
        // If the wrapper was killed between fork and prctl, the parent is already gone.
        if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || getppid() != parent) {
            _exit(127);
        }

        argv[0] = (char *)real;
        execv(real, argv);
        fprintf(stderr, "vmm-stamp: cannot exec %s: %s\n", real, strerror(errno));
        _exit(127);
    }

    child = pid;
    int status;
    while (waitpid(pid, &status, 0) < 0) {
        if (errno != EINTR) {
            fprintf(stderr, "vmm-stamp: waitpid: %s\n", strerror(errno));
            return 127;
        }
    }

    stamp(file, "exit", now_ns(), status);
    if (WIFEXITED(status)) {
        return WEXITSTATUS(status);
    }

    // Die of the same signal, without a core file of the wrapper.
    int sig = WTERMSIG(status);
    struct rlimit none = { 0, 0 };
    setrlimit(RLIMIT_CORE, &none);
    signal(sig, SIG_DFL);
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, sig);
    sigprocmask(SIG_UNBLOCK, &set, NULL);
    raise(sig);
    return 128 + sig;
}
