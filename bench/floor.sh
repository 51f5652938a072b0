#!/usr/bin/env bash
# floor.sh — what starting a process costs on this machine, before a runtime does any work.
# Never part of the tests.
#
# Usage: bench/floor.sh              (as root or not; needs gcc and perf)
# Env:   N      runs per program (default 300)
#        BERTH  berth binary (default <repo>/target/x86_64-unknown-linux-gnu/release/berth)
#        CRUN   crun binary (default crun)
#
# Times (perf stat -r N: CPU time of the process, task-clock, and wall time, medians of the
# perf runs' means over ROUNDS interleaved rounds):
#   bare       a static program without a C library: _start makes exit(2) (the kernel's
#              fork+exec+exit+wait, nothing else)
#   glibc      a static program with glibc whose main returns 0: glibc's start-up on top
#   berth      `berth --version` (berth's start, its command line, exit)
#   crun       `crun --version` (the dynamic loader, crun's start, exit)
#   cpuid      one CPUID instruction, timed in a loop: in a virtual machine it exits to the
#              hypervisor. glibc's start-up runs it dozens of times (x86 cpu features and
#              cache sizes: init_cpu_features, handle_amd/handle_intel), in every process,
#              static or dynamic (the loader does it there).
# The difference glibc - bare is what every glibc program pays at each start on this machine;
# a runtime pays it once per process it starts (berth: create, run and exec start two, the
# exe guard's re-exec; crun the same, from its memfd).
set -euo pipefail

here=$(cd "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
repo=$(dirname -- "$here")
N=${N:-300}
ROUNDS=${ROUNDS:-3}
BERTH=${BERTH:-$repo/target/x86_64-unknown-linux-gnu/release/berth}
CRUN=${CRUN:-crun}
command -v perf >/dev/null || { echo "floor: perf missing (apt-get install linux-perf)" >&2; exit 1; }
command -v gcc >/dev/null || { echo "floor: gcc missing" >&2; exit 1; }

tmp=$(mktemp -d /tmp/berth-floor.XXXXXX)
trap 'rm -rf -- "$tmp"' EXIT
cat > "$tmp/bare.c" <<'EOF'
void _start(void) { __asm__ volatile("mov $60, %eax\n xor %edi, %edi\n syscall"); }
EOF
echo 'int main(void) { return 0; }' > "$tmp/glibc.c"
cat > "$tmp/cpuid.c" <<'EOF'
#include <cpuid.h>
#include <stdio.h>
#include <time.h>
int main(void) {
    unsigned a, b, c, d, n = 20000;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (unsigned i = 0; i < n; i++) __cpuid_count(0x80000000, 0, a, b, c, d);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    printf("%.2f\n", ((t1.tv_sec - t0.tv_sec) * 1e9 + (t1.tv_nsec - t0.tv_nsec)) / n / 1000);
    return 0;
}
EOF
gcc -O2 -static -nostdlib -o "$tmp/bare" "$tmp/bare.c"
gcc -O2 -static -o "$tmp/glibc" "$tmp/glibc.c"
gcc -O2 -o "$tmp/cpuid" "$tmp/cpuid.c"

# stat PROGRAM... -> "task-clock-ms wall-ms" (perf stat -r N, means)
stat() {
    perf stat -r "$N" -x, -e task-clock -o "$tmp/stat" -- "$@" >/dev/null 2>&1
    local cpu wall
    cpu=$(awk -F, '$3 == "task-clock" || $3 ~ /^task-clock/ {print $1; exit}' "$tmp/stat")
    # perf -x prints no elapsed time: time the same N runs for the wall clock.
    local t0=${EPOCHREALTIME/./} i
    for ((i = 0; i < N; i++)); do "$@" >/dev/null 2>&1; done
    wall=$(( (${EPOCHREALTIME/./} - t0) / N ))
    echo "$cpu $wall"
}
declare -A cpu wall
progs=(bare glibc berth crun)
for ((r = 0; r < ROUNDS; r++)); do
    for p in "${progs[@]}"; do
        case $p in
            bare | glibc) set -- "$tmp/$p" ;;
            berth) set -- "$BERTH" --version ;;
            crun) set -- "$CRUN" --version ;;
        esac
        read -r c w < <(stat "$@")
        cpu[$p]+="$c "
        wall[$p]+="$w "
    done
done
median() { printf '%s\n' $1 | sort -g | awk '{a[NR] = $1} END {print a[int((NR + 1) / 2)]}'; }
printf 'load average %s; N=%s in %s rounds\n' "$(cut -d' ' -f1-3 /proc/loadavg)" "$N" "$ROUNDS"
printf '%-8s %14s %12s\n' program "cpu (ms)" "wall (ms)"
for p in "${progs[@]}"; do
    printf '%-8s %14.3f %12.3f\n' "$p" "$(median "${cpu[$p]}")" "$(awk -v us="$(median "${wall[$p]}")" 'BEGIN {print us / 1000}')"
done
printf 'one CPUID: %s us\n' "$("$tmp/cpuid")"
