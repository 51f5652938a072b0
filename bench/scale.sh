#!/usr/bin/env bash
# scale.sh — does a runtime slow down with the number of containers? Never part of the tests.
#
# Usage: bench/scale.sh        (as root)
# Env:   BERTH (default <repo>/target/x86_64-unknown-linux-gnu/release/berth), CRUN (default crun)
#        N        containers per runtime (default 1000)
#        RUNTIMES which to measure (default "berth crun")
#
# Per runtime, with its own --root in a tempdir: `run -d` of N `sleep 1000` containers, each
# call timed; then `list` (table, and `list -q`) and `state` of the first container, 10 times
# each, with all N running; then `delete -f` of every container, each call timed. Prints the
# median of the first 10 and the last 10 calls of run -d and delete -f (growth shows as
# last/first above 1), their totals, and the medians of list and state. Everything a runtime
# made is deleted at the end, also on failure or ^C. Needs N free pids and cgroups.
set -euo pipefail

here=$(cd "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
repo=$(dirname -- "$here")
# shellcheck source=scripts/env.sh
. "$repo/scripts/env.sh"
# shellcheck source=bench/runtimes.sh
. "$repo/bench/runtimes.sh"
N=${N:-1000}
CRUN=${CRUN:-crun}
RUNTIMES=${RUNTIMES:-berth crun}
[ "$(id -u)" -eq 0 ] || { echo "scale: run as root" >&2; exit 1; }
[ "$N" -ge 20 ] || { echo "scale: N must be at least 20" >&2; exit 1; }

# Timestamps: ${EPOCHREALTIME/./} (µs), read in place; a $(…) around it would fork a subshell
# inside every sample (~0.8 ms of fork and exit here, more beside a busy core).
timed() { local t0; t0=${EPOCHREALTIME/./}; "$@" </dev/null >/dev/null; echo $((${EPOCHREALTIME/./} - t0)); }

# --- worker: every call of one runtime, in one process tree (crun's in its namespace) --------
if [ "${1:-}" = --worker ]; then
    name=$2 bin=$3 root=$4 out=$5 bundle=$6
    rt() { "$bin" --root "$root" "$@"; }
    # IDs unique to this run: the default cgroup path is the ID.
    id=sc$$-$name
    for ((i = 0; i < N; i++)); do timed rt run --detach --bundle "$bundle" "$id-$i" >> "$out/$name.run"; done
    for ((i = 0; i < 10; i++)); do
        timed rt list >> "$out/$name.list"
        timed rt list -q >> "$out/$name.listq"
        timed rt state "$id-0" >> "$out/$name.state"
    done
    [ "$(rt list -q | wc -l)" -eq "$N" ] || echo "scale: $name lists $(rt list -q | wc -l) of $N" >&2
    for ((i = 0; i < N; i++)); do timed rt delete --force "$id-$i" >> "$out/$name.delete"; done
    exit 0
fi

tmp=$(mktemp -d /tmp/berth-scale.XXXXXX)
declare -A bins=([berth]=$BERTH [crun]=$CRUN)
cleanup() {
    local n
    for n in $RUNTIMES; do
        delete_all "$n" "${bins[$n]}" "$tmp/root-$n"
    done
    rm -rf --one-file-system -- "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

"$repo/scripts/make-rootfs.sh" "$tmp/rootfs" >/dev/null
ROOTFS=$tmp/rootfs BERTH=runc "$repo/scripts/make-bundle.sh" "$tmp/bundle" sleep 1000

# median of lines FROM..TO of FILE (1-based), in ms
median_ms() { sed -n "$2,$3p" "$1" | sort -n | awk '{ v[NR] = $1 } END {
    m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2; printf "%.2f", m / 1000 }'; }
total_s() { awk '{ s += $1 } END { printf "%.1f", s / 1e6 }' "$1"; }

echo "scale: N=$N, load average $(cut -d' ' -f1-3 /proc/loadavg)" >&2
export N
for n in $RUNTIMES; do
    mkdir -p "$tmp/root-$n"
    in_ns "$n" bash "$here/scale.sh" --worker "$n" "${bins[$n]}" "$tmp/root-$n" "$tmp" "$tmp/bundle"
    echo "scale: $n done, load average $(cut -d' ' -f1-3 /proc/loadavg)" >&2
done

printf '\n%-40s' "N=$N (ms; totals in s)"
for n in $RUNTIMES; do printf ' %10s' "$n"; done
echo
row() { # row LABEL FN ARGS... (FN gets the runtime's file prefix first)
    local label=$1 fn=$2; shift 2
    printf '%-40s' "$label"
    for n in $RUNTIMES; do printf ' %10s' "$("$fn" "$tmp/$n" "$@")"; done
    echo
}
m() { median_ms "$1.$2" "$3" "$4"; }
t() { total_s "$1.$2"; }
growth() { awk -v a="$(median_ms "$1.$2" $(($3 - 9)) "$3")" -v b="$(median_ms "$1.$2" 1 10)" 'BEGIN { printf "%.2f", a / b }'; }
row "run -d, first 10" m run 1 10
row "run -d, last 10" m run $((N - 9)) "$N"
row "run -d, last/first" growth run "$N"
row "run -d, total (s)" t run
row "list, $N running" m list 1 10
row "list -q, $N running" m listq 1 10
row "state, $N running" m state 1 10
row "delete -f, first 10" m delete 1 10
row "delete -f, last 10" m delete $((N - 9)) "$N"
row "delete -f, last/first" growth delete "$N"
row "delete -f, total (s)" t delete
