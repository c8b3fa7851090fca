/*
 * A stand-in for cloud-hypervisor, compiled by CloudHypervisorBackendTests, to exercise the real
 * spawn path: it insists on `--api-socket fd=3`, checks that fd 3 is an AF_UNIX listening socket,
 * that no other descriptor above 2 leaked into it and that SIGPIPE is at its default, then serves
 * the API calls the backend makes on that inherited socket. Every request body is logged to
 * stdout ("BODY <op> <json>"), which the backend sends to vmm.log, so the test can validate it
 * against the OpenAPI schema.
 *
 * Modes (`--fake-mode=...`): normal, refuse-create (vm.create answers 500), ignore-shutdown
 * (answers the shutdowns but keeps running), poweroff (exits 0 right after answering vm.info).
 */
#define _GNU_SOURCE /* strcasestr */
#include <dirent.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static void fail(int code, const char *why) { fprintf(stderr, "fake-ch: %s\n", why); exit(code); }

static void answer(int c, int status, const char *json)
{
    char head[256];
    const char *reason = status == 200 ? "OK" : status == 204 ? "No Content" : status == 404 ? "Not Found" : "Internal Server Error";
    size_t len = json ? strlen(json) : 0;
    int n = snprintf(head, sizeof head, "HTTP/1.1 %d %s\r\nContent-Length: %zu\r\n%sConnection: close\r\n\r\n",
                     status, reason, len, json ? "Content-Type: application/json\r\n" : "");
    if (write(c, head, n) < 0 || (len && write(c, json, len) < 0)) { /* client gone */ }
}

int main(int argc, char **argv)
{
    const char *mode = "normal";
    if (argc < 3 || strcmp(argv[1], "--api-socket") != 0 || strcmp(argv[2], "fd=3") != 0) fail(2, "expected --api-socket fd=3");
    for (int i = 3; i < argc; i++) if (strncmp(argv[i], "--fake-mode=", 12) == 0) mode = argv[i] + 12;

    int listening = 0, domain = 0; socklen_t l = sizeof listening;
    if (getsockopt(3, SOL_SOCKET, SO_ACCEPTCONN, &listening, &l) != 0 || !listening) fail(3, "fd 3 is not a listening socket");
    l = sizeof domain;
    if (getsockopt(3, SOL_SOCKET, SO_DOMAIN, &domain, &l) != 0 || domain != AF_UNIX) fail(3, "fd 3 is not AF_UNIX");

    DIR *d = opendir("/proc/self/fd");
    struct dirent *e;
    while (d && (e = readdir(d))) {
        int fd = atoi(e->d_name);
        if (e->d_name[0] != '.' && fd > 3 && fd != dirfd(d)) { fprintf(stderr, "fake-ch: leaked fd %d\n", fd); exit(4); }
    }
    if (d) closedir(d);

    struct sigaction sa;
    if (sigaction(SIGPIPE, NULL, &sa) != 0 || sa.sa_handler != SIG_DFL) fail(5, "SIGPIPE is not at its default");
    printf("fake-ch: pid %d serving fd 3, mode %s\n", (int)getpid(), mode);
    fflush(stdout);

    static char config[65536] = "{\"payload\":{}}";
    const char *state = NULL;
    for (;;) {
        int c = accept(3, NULL, NULL);
        if (c < 0) fail(6, "accept failed");
        static char buf[70000];
        size_t got = 0; char *end = NULL;
        buf[0] = 0; /* static buffer: forget the previous request */
        while (!(end = strstr(buf, "\r\n\r\n"))) {
            ssize_t n = read(c, buf + got, sizeof buf - 1 - got);
            if (n <= 0) break;
            got += n; buf[got] = 0;
        }
        if (!end) { close(c); continue; }
        char *cl = strcasestr(buf, "Content-Length:");
        size_t want = cl ? strtoul(cl + 15, NULL, 10) : 0, have = got - (end + 4 - buf);
        while (have < want) {
            ssize_t n = read(c, buf + got, sizeof buf - 1 - got);
            if (n <= 0) break;
            got += n; have += n; buf[got] = 0;
        }
        char method[8] = "", path[128] = "";
        sscanf(buf, "%7s %127s", method, path);
        const char *op = strncmp(path, "/api/v1/", 8) == 0 ? path + 8 : path;
        char *body = end + 4;
        if (have) { printf("BODY %s %s\n", op, body); fflush(stdout); }

        if (!strcmp(op, "vmm.ping")) answer(c, 200, "{\"version\":\"fake-ch\"}");
        else if (!strcmp(op, "vm.create")) {
            if (!strcmp(mode, "refuse-create")) answer(c, 500, "[\"Error creating VM: kernel not found\"]");
            else { snprintf(config, sizeof config, "%s", body); state = "Created"; answer(c, 204, NULL); }
        }
        else if (!strcmp(op, "vm.boot")) { if (state) { state = "Running"; answer(c, 204, NULL); } else answer(c, 404, NULL); }
        else if (!strcmp(op, "vm.info")) {
            if (!state) answer(c, 404, NULL);
            else {
                static char info[70000];
                snprintf(info, sizeof info, "{\"config\":%s,\"state\":\"%s\"}", config, state);
                answer(c, 200, info);
                if (!strcmp(mode, "poweroff")) { close(c); usleep(100000); printf("fake-ch: guest powered off\n"); exit(0); }
            }
        }
        else if (!strcmp(op, "vm.shutdown")) { if (state) { state = "Shutdown"; answer(c, 204, NULL); } else answer(c, 404, NULL); }
        else if (!strcmp(op, "vmm.shutdown")) {
            answer(c, 204, NULL);
            if (strcmp(mode, "ignore-shutdown") != 0) { close(c); printf("fake-ch: vmm.shutdown\n"); exit(0); }
        }
        else answer(c, 404, NULL);
        close(c);
    }
}
