#!/usr/bin/env bash
# stop.sh — `berth stop -t 1` of a container whose PID 1 ignores SIGTERM, broken down, and an
# A/B against another build. Never part of the tests.
#
# Usage: bench/stop.sh [BEFORE_DIR]     (as root; BEFORE_DIR holds another build's berth,
#                                        berth-people and berth-monitor)
# Env:   BERTH (default <repo>/target/x86_64-unknown-linux-gnu/release/berth)
#        N  stops per build (default 20)    R  perf stat repeats (default 40)
#
# Prints, per build:
#   over      wall time of `stop -t 1` minus the 1 s timeout, ms, median of N (interleaved
#             with BEFORE's, one container each)
#   cpu       `perf stat -r R` task-clock (ms) and page faults of `berth-people --version` and
#             of `berth stop` of an exited container (everything stop does before SIGTERM:
#             both executables' start, the CLI, the record and the state read) — CPU time, so
#             less moved by other load than wall time
#   steps     (this build only) kernel tracepoints around one stop, median ms of N/2 stops:
#             berth exec'd → SIGTERM; SIGKILL → the init's exit begins (sched_process_exit);
#             → the monitor's wait4 returns (the kernel's teardown of what the init held);
#             → the exit recorded (rename); → stop exits
set -euo pipefail

here=$(cd "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
repo=$(dirname -- "$here")
# shellcheck source=scripts/env.sh
. "$repo/scripts/env.sh"
N=${N:-20}
R=${R:-40}
BEFORE=${1:-}

die() { echo "stop bench: $*" >&2; exit 1; }
[ "$(id -u)" -eq 0 ] || die "run as root"
command -v perf >/dev/null || die "perf missing (apt-get install -y linux-perf)"
median() { sort -n | awk '{a[NR]=$1} END{print a[int((NR+1)/2)]}'; }

tmp=$(mktemp -d /tmp/berth-stopbench.XXXXXX)
builds=(new)
declare -A bin=([new]=$(dirname -- "$BERTH"))
if [ -n "$BEFORE" ]; then
    [ -x "$BEFORE/berth" ] && [ -x "$BEFORE/berth-people" ] && [ -x "$BEFORE/berth-monitor" ] ||
        die "$BEFORE must hold berth, berth-people and berth-monitor"
    builds=(before new)
    bin[before]=$(cd "$BEFORE" && pwd)
fi
b() { local k=$1; shift; "${bin[$k]}/berth" --root "$tmp/run/$k" --image-root "$tmp/img-$k" "$@"; }
cleanup() {
    set +e
    local k id
    for k in "${builds[@]}"; do
        for id in $(b "$k" ps -a -q 2>/dev/null); do b "$k" rm -f "$id" >/dev/null 2>&1; done
    done
    umount "$tmp/run" 2>/dev/null
    rm -rf --one-file-system -- "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
mkdir -p "$tmp/run"
mount -t tmpfs -o mode=0700 berth-stopbench-run "$tmp/run"
mkdir -p "$tmp/rootfs/bin" "$tmp/rootfs/"{etc,proc,sys,dev,tmp}
cp /bin/busybox "$tmp/rootfs/bin/"
for a in sh sleep true; do ln -sf busybox "$tmp/rootfs/bin/$a"; done
tar -C "$tmp/rootfs" -cf "$tmp/bb.tar" .
for k in "${builds[@]}"; do
    mkdir -p "$tmp/run/$k"
    b "$k" image import "$tmp/bb.tar" bb:latest >/dev/null
    b "$k" run -d --name "x$k" --net none bb true >/dev/null
    b "$k" wait "x$k" >/dev/null
done

# --- CPU of the start and of everything before SIGTERM ------------------------------------
cpu() {
    perf stat -x, -e task-clock,page-faults -r "$R" "$@" 2>&1 >/dev/null |
        awk -F, '$3 == "task-clock" { t = $1 } $3 == "page-faults" { f = $1 }
                 END { printf "%.2f ms %d faults", t, f }'
}
for k in "${builds[@]}"; do
    echo "cpu $k: berth-people --version: $(cpu "${bin[$k]}/berth-people" --version);" \
        "berth stop (exited): $(cpu "${bin[$k]}/berth" --root "$tmp/run/$k" \
        --image-root "$tmp/img-$k" stop -t 1 "x$k")"
done

# --- wall time over the timeout, interleaved ----------------------------------------------
for i in $(seq "$N"); do
    for k in "${builds[@]}"; do b "$k" run -d --name "s$i" --net none bb sleep 1000 >/dev/null; done
done
for k in "${builds[@]}"; do : > "$tmp/over.$k"; done
for i in $(seq $((N / 2 + 1)) "$N"); do
    for k in "${builds[@]}"; do
        # No subshell in the measured span: the clock is read in this shell.
        t0=${EPOCHREALTIME/./}; b "$k" stop -t 1 "s$i" >/dev/null; t1=${EPOCHREALTIME/./}
        echo $(( (10#$t1 - 10#$t0) - 1000000 )) >> "$tmp/over.$k"
        sleep 0.3 # the monitor's teardown of the stopped container, not in the next stop
    done
done

# --- steps of this build's stop, from tracepoints -----------------------------------------
events=sched:sched_process_exec,sched:sched_process_exit,syscalls:sys_enter_pidfd_send_signal
events+=,syscalls:sys_exit_wait4,syscalls:sys_enter_rename
: > "$tmp/steps"
for i in $(seq 1 $((N / 2))); do
    perf record -q -a -e "$events" -o "$tmp/perf.data" -- \
        "${bin[new]}/berth" --root "$tmp/run/new" --image-root "$tmp/img-new" stop -t 1 "s$i" \
        >/dev/null 2>&1
    sleep 0.3
    # Lines: comm pid [cpu] time: event: ...  The stop process keeps its pid across the exec
    # into berth-people; the init is the one that exits after the second signal.
    perf script -i "$tmp/perf.data" -F comm,pid,time,event,trace 2>/dev/null | awk '
        { t = $3; sub(/:$/, "", t); t *= 1000; ev = $4 }
        ev ~ /sched_process_exec/ && start == "" { start = t; stopper = $2 }
        ev ~ /pidfd_send_signal/ && $2 == stopper { if (term == "") term = t; else kill = t }
        ev ~ /sched_process_exit/ && kill != "" && init_exit == "" && $1 == "sleep" { init_exit = t }
        ev ~ /sys_exit_wait4/ && $1 == "berth-monitor" && init_exit != "" && woke == "" { woke = t }
        ev ~ /sys_enter_rename/ && $1 == "berth-monitor" && woke != "" && rec == "" { rec = t }
        ev ~ /sched_process_exit/ && $2 == stopper { end = t }
        END { if (kill != "" && rec != "" && end != "")
                printf "%.3f %.3f %.3f %.3f %.3f %.3f\n", term - start, init_exit - kill,
                    woke - init_exit, rec - woke, end - rec, end - start - 1000 }' >> "$tmp/steps"
done

col() { awk -v c="$1" '{print $c}' "$tmp/steps" | median; }
for k in "${builds[@]}"; do
    echo "over $k: $(awk '{printf "%.2f\n", $1 / 1000}' "$tmp/over.$k" | median) ms" \
        "(median of $(wc -l < "$tmp/over.$k"))"
done
if [ -s "$tmp/steps" ]; then
    echo "steps new (median ms of $(wc -l < "$tmp/steps")): exec→SIGTERM $(col 1)," \
        "SIGKILL→init exit $(col 2), →monitor's wait4 $(col 3), →recorded $(col 4)," \
        "→stop exits $(col 5); over the timeout $(col 6)"
fi
echo "load: $(cut -d' ' -f1-3 /proc/loadavg)"
