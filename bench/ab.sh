#!/usr/bin/env bash
# ab.sh — two (or more) berth builds side by side, sample by sample interleaved, to measure
# one change. Never part of the tests.
#
# Usage: bench/ab.sh BEFORE AFTER [MORE...]     (as root; paths of berth binaries, or crun)
# Env:   N samples per metric and binary (default 30)
#        GAP seconds of sleep before each create sample (default 0): a create after a quiet
#            while, as a node starting a pod sees it, rather than one in a tight loop (on a
#            v1 host the first cgroup write after a quiet while waits for an RCU grace period)
#
# Prints the median of each metric per binary and each binary's ratio to the first:
# create, start, delete (one create+start+delete cycle of /bin/true), run of /bin/true,
# exec of /bin/true in a running container, state of a created container.
# crun runs in a private mount namespace without /sys/fs/cgroup/unified, as in bench.sh
# (entered per sample here, so crun's figures include one unshare: compare with bench.sh).
set -euo pipefail

here=$(cd "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
repo=$(dirname -- "$here")
N=${N:-30}
[ $# -ge 2 ] || { echo "usage: $0 BEFORE AFTER [MORE...]" >&2; exit 2; }
[ "$(id -u)" -eq 0 ] || { echo "ab: run as root" >&2; exit 1; }
bins=("$@")

tmp=$(mktemp -d /tmp/berth-ab.XXXXXX)
rt() { # rt INDEX ARGS...
    local i=$1; shift
    if [ "$(basename -- "${bins[$i]}")" = crun ] && mountpoint -q /sys/fs/cgroup/unified; then
        unshare --mount --propagation private sh -c 'umount /sys/fs/cgroup/unified && exec "$@"' \
            sh "${bins[$i]}" --root "$tmp/root-$i" "$@"
    else
        "${bins[$i]}" --root "$tmp/root-$i" "$@"
    fi
}
cleanup() {
    local i id
    for i in "${!bins[@]}"; do
        for id in $(rt "$i" list -q 2>/dev/null); do rt "$i" delete --force "$id" >/dev/null 2>&1 || true; done
    done
    rm -rf --one-file-system -- "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

"$repo/scripts/make-rootfs.sh" "$tmp/rootfs" >/dev/null
ROOTFS=$tmp/rootfs BERTH=runc "$repo/scripts/make-bundle.sh" "$tmp/bundle-true" /bin/true
ROOTFS=$tmp/rootfs BERTH=runc "$repo/scripts/make-bundle.sh" "$tmp/bundle-sleep" sleep 1000

# Timestamps: ${EPOCHREALTIME/./} (µs), read in place; a $(…) around it would fork a subshell
# inside every sample (~0.8 ms of fork and exit here, more beside a busy core).
sample() { # sample INDEX METRIC ARGS...: times one command, appends µs to $tmp/INDEX.METRIC
    local i=$1 m=$2 t0; shift 2
    t0=${EPOCHREALTIME/./}
    rt "$i" "$@" </dev/null >/dev/null
    echo $((${EPOCHREALTIME/./} - t0)) >> "$tmp/$i.$m"
}
echo "ab: N=$N, load average $(cut -d' ' -f1-3 /proc/loadavg)" >&2
for i in "${!bins[@]}"; do
    rt "$i" run --detach --bundle "$tmp/bundle-sleep" "ab$$-$i-x"
    rt "$i" create --bundle "$tmp/bundle-true" "ab$$-$i-s"
done
for ((n = 0; n < N; n++)); do
    for i in "${!bins[@]}"; do
        id=ab$$-$i-$n
        sleep "${GAP:-0}"
        sample "$i" create create --bundle "$tmp/bundle-true" "$id"
        sample "$i" start start "$id"
        sample "$i" delete delete --force "$id"
        sample "$i" run run --bundle "$tmp/bundle-true" "$id-r"
        sample "$i" exec exec "ab$$-$i-x" /bin/true
        sample "$i" state state "ab$$-$i-s"
    done
done
echo "ab: done, load average $(cut -d' ' -f1-3 /proc/loadavg)" >&2

median() { sort -n "$1" | awk '{ v[NR] = $1 } END { m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2; printf "%.2f", m / 1000 }'; }
printf '%-10s' "ms (N=$N)"
for i in "${!bins[@]}"; do printf ' %14s' "$(basename -- "${bins[$i]}")"; done
for i in "${!bins[@]}"; do [ "$i" -eq 0 ] || printf ' %8s' "$i/0"; done
echo
for m in create start delete run exec state; do
    printf '%-10s' "$m"
    for i in "${!bins[@]}"; do printf ' %14s' "$(median "$tmp/$i.$m")"; done
    for i in "${!bins[@]}"; do
        [ "$i" -eq 0 ] || printf ' %8s' "$(awk -v a="$(median "$tmp/$i.$m")" -v b="$(median "$tmp/0.$m")" 'BEGIN { printf "%.2f", a / b }')"
    done
    echo
done
