/*
 * meta.c: the metadata half of the data-path benchmark (see README.md).
 *
 * Built by run.sh with `gcc -O2 -Wall -o meta meta.c`. Every timed subcommand prints one line on
 * stdout: the elapsed wall time in milliseconds (CLOCK_MONOTONIC), e.g. "101.234". Errors go to
 * stderr and give a non-zero exit status; a workload that hit any error prints no time.
 *
 *   meta stat DIR [N]        fstatat() DIR/f00000 .. f<N-1> (default N 10000) without listing DIR
 *   meta readdir DIR         opendir + readdir to the end + closedir; the entry count goes to stderr
 *   meta readdirstat DIR     read every name, then fstatat() each one (what `ls -l` does)
 *   meta create DIR N        N x (openat O_CREAT|O_EXCL, write 4 KiB, close) as DIR/c00000..
 *   meta fstat FILE N        open FILE once, then time N x fstat() on that fd
 *   meta populate DIR N SZ   (untimed helper) create DIR/f00000.. with SZ bytes each
 *
 * Names are f%05d so that `stat` needs no readdir (a readdir, READDIRPLUS in FUSE, would warm the
 * very entries `stat` is supposed to find cold).
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static double now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static void die(const char *what, const char *arg)
{
	fprintf(stderr, "meta: %s %s: %s\n", what, arg ? arg : "", strerror(errno));
	exit(1);
}

static long parse_count(const char *s)
{
	char *end;
	errno = 0;
	long n = strtol(s, &end, 10);
	if (errno || *end || n < 0) {
		fprintf(stderr, "meta: bad count '%s'\n", s);
		exit(2);
	}
	return n;
}

static int open_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		die("open", dir);
	return fd;
}

static int cmd_stat(const char *dir, long n)
{
	int dfd = open_dir(dir);
	char name[32];
	struct stat st;
	long bad = 0;
	double t0 = now_ms();
	for (long i = 0; i < n; i++) {
		snprintf(name, sizeof name, "f%05ld", i);
		if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) != 0)
			bad++;
	}
	double t1 = now_ms();
	close(dfd);
	if (bad) {
		fprintf(stderr, "meta: stat: %ld of %ld names failed\n", bad, n);
		return 1;
	}
	printf("%.3f\n", t1 - t0);
	return 0;
}

/* Reads every name of dir into a growing buffer; returns the count. */
static long read_names(DIR *d, char **buf, size_t *len)
{
	size_t cap = 1 << 20, used = 0;
	long count = 0;
	char *b = malloc(cap);
	if (!b)
		die("malloc", NULL);
	struct dirent *e;
	errno = 0;
	while ((e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.' && (e->d_name[1] == 0 || (e->d_name[1] == '.' && e->d_name[2] == 0)))
			continue;
		size_t l = strlen(e->d_name) + 1;
		if (used + l > cap) {
			cap *= 2;
			b = realloc(b, cap);
			if (!b)
				die("realloc", NULL);
		}
		memcpy(b + used, e->d_name, l);
		used += l;
		count++;
	}
	if (errno)
		die("readdir", NULL);
	*buf = b;
	*len = used;
	return count;
}

static int cmd_readdir(const char *dir)
{
	double t0 = now_ms();
	DIR *d = opendir(dir);
	if (!d)
		die("opendir", dir);
	long count = 0;
	struct dirent *e;
	errno = 0;
	while ((e = readdir(d)) != NULL)
		count++;
	if (errno)
		die("readdir", dir);
	closedir(d);
	double t1 = now_ms();
	fprintf(stderr, "meta: readdir: %ld entries\n", count);
	printf("%.3f\n", t1 - t0);
	return 0;
}

static int cmd_readdirstat(const char *dir)
{
	double t0 = now_ms();
	DIR *d = opendir(dir);
	if (!d)
		die("opendir", dir);
	char *names;
	size_t len;
	long count = read_names(d, &names, &len);
	int dfd = dirfd(d);
	struct stat st;
	long bad = 0;
	for (size_t off = 0; off < len; off += strlen(names + off) + 1)
		if (fstatat(dfd, names + off, &st, AT_SYMLINK_NOFOLLOW) != 0)
			bad++;
	closedir(d);
	double t1 = now_ms();
	free(names);
	if (bad) {
		fprintf(stderr, "meta: readdirstat: %ld of %ld names failed\n", bad, count);
		return 1;
	}
	fprintf(stderr, "meta: readdirstat: %ld entries\n", count);
	printf("%.3f\n", t1 - t0);
	return 0;
}

static int cmd_create(const char *dir, long n)
{
	static char block[4096];
	memset(block, 'x', sizeof block);
	int dfd = open_dir(dir);
	char name[32];
	double t0 = now_ms();
	for (long i = 0; i < n; i++) {
		snprintf(name, sizeof name, "c%05ld", i);
		int fd = openat(dfd, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
		if (fd < 0)
			die("create", name);
		if (write(fd, block, sizeof block) != (ssize_t)sizeof block)
			die("write", name);
		if (close(fd) != 0)
			die("close", name);
	}
	double t1 = now_ms();
	close(dfd);
	printf("%.3f\n", t1 - t0);
	return 0;
}

static int cmd_fstat(const char *file, long n)
{
	int fd = open(file, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		die("open", file);
	struct stat st;
	double t0 = now_ms();
	for (long i = 0; i < n; i++)
		if (fstat(fd, &st) != 0)
			die("fstat", file);
	double t1 = now_ms();
	close(fd);
	printf("%.3f\n", t1 - t0);
	return 0;
}

static int cmd_populate(const char *dir, long n, long size)
{
	char *block = malloc(size ? (size_t)size : 1);
	if (!block)
		die("malloc", NULL);
	for (long i = 0; i < size; i++)
		block[i] = (char)('a' + i % 26);
	int dfd = open_dir(dir);
	char name[32];
	for (long i = 0; i < n; i++) {
		snprintf(name, sizeof name, "f%05ld", i);
		int fd = openat(dfd, name, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
		if (fd < 0)
			die("create", name);
		if (size && write(fd, block, (size_t)size) != (ssize_t)size)
			die("write", name);
		if (close(fd) != 0)
			die("close", name);
	}
	close(dfd);
	free(block);
	return 0;
}

static int usage(void)
{
	fprintf(stderr,
		"usage: meta stat DIR [N] | readdir DIR | readdirstat DIR | create DIR N | fstat FILE N\n"
		"       meta populate DIR N SIZE\n");
	return 2;
}

int main(int argc, char **argv)
{
	if (argc < 3)
		return usage();
	const char *cmd = argv[1], *path = argv[2];
	if (!strcmp(cmd, "stat") && (argc == 3 || argc == 4))
		return cmd_stat(path, argc == 4 ? parse_count(argv[3]) : 10000);
	if (!strcmp(cmd, "readdir") && argc == 3)
		return cmd_readdir(path);
	if (!strcmp(cmd, "readdirstat") && argc == 3)
		return cmd_readdirstat(path);
	if (!strcmp(cmd, "create") && argc == 4)
		return cmd_create(path, parse_count(argv[3]));
	if (!strcmp(cmd, "fstat") && argc == 4)
		return cmd_fstat(path, parse_count(argv[3]));
	if (!strcmp(cmd, "populate") && argc == 5)
		return cmd_populate(path, parse_count(argv[3]), parse_count(argv[4]));
	return usage();
}
