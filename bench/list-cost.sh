#!/usr/bin/env bash
# list-cost.sh — what each of `list`'s per-container syscalls costs in the kernel, the floor
# of listing under the status rules (docs/ARCHITECTURE.md). Never part of the tests.
#
# Usage: bench/list-cost.sh ROOT   (as root; ROOT a berth state root holding containers)
# Needs gcc. Prints, per container and in µs, the median of 5 passes over every container
# of each syscall `list` makes for it, each timed as a loop of that one call (the kernel's
# work, not berth's), and a getppid(2) for the cost of entering the kernel alone. The
# freezer file (a running container's, on a v1 host) is measured for every container.
set -euo pipefail
root=${1:?usage: list-cost.sh ROOT}
[ "$(id -u)" -eq 0 ] || { echo "list-cost: run as root" >&2; exit 1; }
tmp=$(mktemp -d /tmp/berth-list-cost.XXXXXX)
trap 'rm -rf -- "$tmp"' EXIT

cat > "$tmp/cost.c" <<'EOF'
#define _GNU_SOURCE
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

enum { MAX = 100000, PASSES = 5 };
static char *state[MAX], *sock[MAX], *stat_[MAX], *freezer[MAX];
static int fds[MAX], n, root;
static char buf[1 << 16];

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e6 + t.tv_nsec / 1e3;
}
static int cmp(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}
static void open_all(char **paths) {
    for (int i = 0; i < n; i++) fds[i] = openat(root, paths[i], O_RDONLY | O_CLOEXEC);
}
static void close_all(void) {
    for (int i = 0; i < n; i++) close(fds[i]);
}
/* The median over PASSES of one step over every container, per container: the open, read
 * or close of `paths` (each timed alone), a stat of them, or a getppid. */
enum step { GETPPID, STAT, OPEN, READ, CLOSE };
static void step(const char *name, char **paths, enum step what) {
    double runs[PASSES];
    for (int p = 0; p < PASSES; p++) {
        if (what == READ || what == CLOSE) open_all(paths);
        double t0 = now();
        for (int i = 0; i < n; i++) {
            struct stat st;
            switch (what) {
            case GETPPID: syscall(SYS_getppid); break;
            case STAT: fstatat(root, paths[i], &st, AT_SYMLINK_NOFOLLOW); break;
            case OPEN: fds[i] = openat(root, paths[i], O_RDONLY | O_CLOEXEC); break;
            case READ: pread(fds[i], buf, 16384, 0); break;
            case CLOSE: close(fds[i]); break;
            }
        }
        runs[p] = (now() - t0) / n;
        if (what == OPEN || what == READ) close_all();
    }
    qsort(runs, PASSES, sizeof runs[0], cmp);
    printf("%-40s %6.2f\n", name, runs[PASSES / 2]);
}

int main(int argc, char **argv) {
    (void)argc;
    root = open(argv[1], O_PATH | O_DIRECTORY);
    DIR *d = fdopendir(open(argv[1], O_RDONLY | O_DIRECTORY));
    struct dirent *e;
    int frozen = 0;
    while (d && (e = readdir(d)) && n < MAX) {
        if (e->d_name[0] == '.') continue;
        if (asprintf(&state[n], "%s/state.json", e->d_name) < 0) return 1;
        if (asprintf(&sock[n], "%s/start.sock", e->d_name) < 0) return 1;
        int f = openat(root, state[n], O_RDONLY);
        ssize_t r = f < 0 ? -1 : read(f, buf, sizeof buf - 1);
        if (f >= 0) close(f);
        if (r <= 0) continue;
        buf[r] = 0;
        char *pid = strstr(buf, "\"pid\":"), *fz = strstr(buf, "[\"freezer\",\"");
        if (asprintf(&stat_[n], "/proc/%d/stat", pid ? atoi(pid + 6) : 0) < 0) return 1;
        if (fz) {
            fz += 12;
            *strchr(fz, '"') = 0;
            if (asprintf(&freezer[n], "%s/freezer.state", fz) < 0) return 1;
            frozen++;
        }
        n++;
    }
    if (!n) { fprintf(stderr, "list-cost: no containers under %s\n", argv[1]); return 1; }
    printf("%d containers; µs per container, median of %d passes\n", n, PASSES);
    step("getppid (entering the kernel)", NULL, GETPPID);
    step("openat <id>/state.json", state, OPEN);
    step("read state.json", state, READ);
    step("close state.json", state, CLOSE);
    step("stat <id>/start.sock", sock, STAT);
    step("open /proc/<pid>/stat", stat_, OPEN);
    step("read /proc/<pid>/stat", stat_, READ);
    step("close /proc/<pid>/stat", stat_, CLOSE);
    if (frozen == n) {
        step("open freezer.state (v1)", freezer, OPEN);
        step("read freezer.state", freezer, READ);
        step("close freezer.state", freezer, CLOSE);
    }
    return 0;
}
EOF
gcc -O2 -Wall -o "$tmp/cost" "$tmp/cost.c"
echo "list-cost: load average $(cut -d' ' -f1-3 /proc/loadavg)" >&2
"$tmp/cost" "$root"
