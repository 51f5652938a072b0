#!/usr/bin/env bash
# cold-join.sh — the kernel's cost of moving a process into a v1 cgroup after a quiet while.
# Never part of the tests.
#
# Usage: bench/cold-join.sh          (as root, on a host with a v1 pids hierarchy)
# Env:   N    samples (default 10)
#        GAP  seconds of idle before each sample (default 0.5)
#
# Each sample: sleep GAP, then a forked shell writes itself into a fresh pids cgroup twice
# ("cold", then "warm" right after). The time of each write(2) is taken inside the kernel,
# from perf's syscall tracepoints (sys_enter_write to sys_exit_write of the 2-byte "0\n"
# writes), so neither the shell's forks nor the machine's load are in it. Prints the medians.
#
# What it shows: on a v1/hybrid host a cgroup.procs write takes cgroup_threadgroup_rwsem, a
# global percpu rwsem, for writing; after a quiet while its rcu_sync is idle and the writer
# waits for an RCU grace period (10–20 ms here). Mounting any cgroup hierarchy with the
# `favordynmods` option switches that off (an operator setting: docs/ARCHITECTURE.md, "The
# kernel's costs"); on kernel 6.18 it moves cgroup.procs writes onto a per-threadgroup rwsem
# for good: "per threadgroup rwsem mechanism can't be disabled" until the next boot.
# This script only measures: it never changes a mount option.
set -euo pipefail

N=${N:-10}
GAP=${GAP:-0.5}
[ "$(id -u)" -eq 0 ] || { echo "cold-join: run as root" >&2; exit 1; }
command -v perf >/dev/null || { echo "cold-join: perf missing (apt-get install linux-perf)" >&2; exit 1; }
[ -d /sys/fs/cgroup/pids ] || { echo "cold-join: no v1 pids hierarchy at /sys/fs/cgroup/pids" >&2; exit 1; }

cg=/sys/fs/cgroup/pids/berth-cold-join-$$
data=$(mktemp /tmp/berth-cold-join.XXXXXX)
mkdir "$cg"
trap 'rmdir "$cg"; rm -f -- "$data"' EXIT

perf record -q -o "$data" -e syscalls:sys_enter_write,syscalls:sys_exit_write -- \
    bash -c 'for ((i = 0; i < $1; i++)); do
                 sleep "$2"; ( echo 0 > "$3/cgroup.procs"; echo 0 > "$3/cgroup.procs" )
             done' sh "$N" "$GAP" "$cg" 2>/dev/null
perf script -i "$data" 2>/dev/null | python3 -c '
import re, statistics, sys
enter, writes = {}, {}
for line in sys.stdin:
    m = re.search(r"\s(\d+)\s+\[\d+\]\s+([\d.]+):\s+syscalls:sys_(enter|exit)_write:(.*)", line)
    if not m:
        continue
    pid, t, kind, rest = m.group(1), float(m.group(2)), m.group(3), m.group(4)
    if kind == "enter":
        enter[pid] = (t, "count: 0x00000002" in rest)
    elif pid in enter:
        t0, ours = enter.pop(pid)
        if ours:
            writes.setdefault(pid, []).append((t - t0) * 1000)
pairs = [w for w in writes.values() if len(w) == 2]
for name, i in (("cold", 0), ("warm", 1)):
    v = [p[i] for p in pairs]
    print("%s cgroup.procs write: median %.3f ms (min %.3f, max %.3f; %d of %d over 2 ms)"
          % (name, statistics.median(v), min(v), max(v), sum(x > 2 for x in v), len(v)))'
echo "cold-join: N=$N GAP=$GAP, load average $(cut -d' ' -f1-3 /proc/loadavg)"
