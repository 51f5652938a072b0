#!/usr/bin/env bash
# bench.sh — berth vs runc vs crun, side by side in one run. Never part of the tests.
#
# Usage: bench/bench.sh            (as root)
# Env:   BERTH  runtime under test (default <repo>/target/x86_64-unknown-linux-gnu/release/berth; BERTH=runc to dry-run)
#        RUNC   (default runc)   CRUN (default crun)
#        N      samples per timed metric and runtime (default 50)
#        ROUNDS N is split into ROUNDS blocks, interleaved across runtimes so that load from other
#               work on the machine hits all three alike (default 5)
#        STATE  where the runtimes' --root dirs live: tmpfs (default; as /run, where every client
#               keeps them in production) or disk (the tempdir's filesystem: on this VM an ext4
#               without journal mounted with discard, where file and directory churn in the state
#               dirs costs each runtime differently and grows with recent deletions)
#
# Metrics (wall time of the runtime command, ms; the median is printed):
#   run        `run --bundle B ID` of /bin/true, foreground, a fresh ID each time
#   create, start, delete, create+start+delete
#              `create --bundle B ID` (/bin/true), `start ID`, `delete --force ID` (--force because
#              /bin/true may not have exited yet when `start` returns)
#   state      `state ID` of a created container
#   exec       `exec ID /bin/true` in a running container (n/a while a runtime lacks exec)
#   rss        peak RSS (MiB) of one `create`, by GNU time's %M (the runtime and the processes it
#              waits for)
# All runtimes get the same bundle (config.json from `runc spec`, SPEC_RUNTIME to change) and the
# same busybox rootfs, and each its own --root in a tempdir. crun 1.8 refuses this host's hybrid
# cgroups, so crun's blocks run in a private mount namespace with /sys/fs/cgroup/unified
# unmounted (one unshare per block, outside the timed commands).
set -euo pipefail

here=$(cd "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
repo=$(dirname -- "$here")

# Timestamps: ${EPOCHREALTIME/./} (µs), read in place; a $(…) around it would fork a subshell
# inside every sample (~0.8 ms of fork and exit here, more beside a busy core).

# --- worker: one block of one metric for one runtime; appends samples to $out ---------------
# worker NAME BIN METRIC COUNT ROOT OUTDIR BUNDLE_TRUE BUNDLE_SLEEP BUNDLE_LIMITS BUNDLE_SECCOMP
if [ "${1:-}" = --worker ]; then
    shift
    name=$1 bin=$2 metric=$3 count=$4 root=$5 out=$6 btrue=$7 bsleep=$8 blimits=$9 bseccomp=${10}
    rt() { "$bin" --root "$root" "$@"; }
    err=$out/$name.$metric.err
    # Samples are appended as microseconds (or KiB for rss), one per line.
    sample() { echo "$2" >> "$out/$name.$1"; }
    failed() { echo "$*" >> "$err"; exit 1; }
    id=b$$
    case $metric in
        run)
            for ((i = 0; i < count; i++)); do
                t0=${EPOCHREALTIME/./}
                rt run --bundle "$btrue" "$id-$i" </dev/null >/dev/null 2>>"$err" || failed "run exited $?"
                sample run $((${EPOCHREALTIME/./} - t0))
            done ;;
        seccomp)
            # run with Docker's default seccomp profile, as every container a client starts
            # carries one: the profile's compilation is part of the cost.
            for ((i = 0; i < count; i++)); do
                t0=${EPOCHREALTIME/./}
                rt run --bundle "$bseccomp" "$id-$i" </dev/null >/dev/null 2>>"$err" || failed "run exited $?"
                sample seccomp $((${EPOCHREALTIME/./} - t0))
            done ;;
        cycle)
            for ((i = 0; i < count; i++)); do
                t0=${EPOCHREALTIME/./}
                rt create --bundle "$btrue" "$id-$i" </dev/null >/dev/null 2>>"$err" || failed "create exited $?"
                t1=${EPOCHREALTIME/./}
                rt start "$id-$i" </dev/null >/dev/null 2>>"$err" || failed "start exited $?"
                t2=${EPOCHREALTIME/./}
                rt delete --force "$id-$i" </dev/null >/dev/null 2>>"$err" || failed "delete exited $?"
                t3=${EPOCHREALTIME/./}
                sample create $((t1 - t0)); sample start $((t2 - t1)); sample delete $((t3 - t2))
                sample cycle $((t3 - t0))
            done ;;
        limits)
            # The whole lifecycle with memory, pids and cpu limits: cgroup setup must not
            # dominate it.
            for ((i = 0; i < count; i++)); do
                t0=${EPOCHREALTIME/./}
                rt create --bundle "$blimits" "$id-$i" </dev/null >/dev/null 2>>"$err" || failed "create exited $?"
                rt start "$id-$i" </dev/null >/dev/null 2>>"$err" || failed "start exited $?"
                rt delete --force "$id-$i" </dev/null >/dev/null 2>>"$err" || failed "delete exited $?"
                sample limits $((${EPOCHREALTIME/./} - t0))
            done ;;
        state)
            rt create --bundle "$btrue" "$id" </dev/null >/dev/null 2>>"$err" || failed "create exited $?"
            for ((i = 0; i < count; i++)); do
                t0=${EPOCHREALTIME/./}
                rt state "$id" >/dev/null 2>>"$err" || { rt delete --force "$id" 2>/dev/null; failed "state exited $?"; }
                sample state $((${EPOCHREALTIME/./} - t0))
            done
            rt delete --force "$id" >/dev/null 2>>"$err" || failed "delete exited $?" ;;
        exec)
            rt run --detach --bundle "$bsleep" "$id" </dev/null >/dev/null 2>>"$err" || failed "run --detach exited $?"
            for ((i = 0; i < count; i++)); do
                t0=${EPOCHREALTIME/./}
                rt exec "$id" /bin/true </dev/null >/dev/null 2>>"$err" || { rt delete --force "$id" 2>/dev/null; failed "exec exited $?"; }
                sample exec $((${EPOCHREALTIME/./} - t0))
            done
            rt delete --force "$id" >/dev/null 2>>"$err" || failed "delete exited $?" ;;
        rss)
            for ((i = 0; i < count; i++)); do
                /usr/bin/time -f %M -o "$out/$name.rss.tmp" "$bin" --root "$root" create --bundle "$btrue" "$id-$i" \
                    </dev/null >/dev/null 2>>"$err" || failed "create exited $?"
                sample rss "$(tail -n 1 "$out/$name.rss.tmp")"
                rt delete --force "$id-$i" >/dev/null 2>>"$err" || failed "delete exited $?"
            done ;;
        *) failed "unknown metric $metric" ;;
    esac
    exit 0
fi

# --- main --------------------------------------------------------------------------------------
# shellcheck source=scripts/env.sh
. "$repo/scripts/env.sh"
# shellcheck source=bench/runtimes.sh
. "$repo/bench/runtimes.sh"
N=${N:-50}
ROUNDS=${ROUNDS:-5}
[ "$ROUNDS" -le "$N" ] || ROUNDS=$N
[ "$(id -u)" -eq 0 ] || { echo "bench: run as root" >&2; exit 1; }
[ -x /usr/bin/time ] || { echo "bench: /usr/bin/time missing (apt-get install time)" >&2; exit 1; }

names=(berth runc crun)
declare -A bins=([berth]=$BERTH [runc]=${RUNC:-runc} [crun]=${CRUN:-crun})
for n in "${names[@]}"; do
    b=$(command -v "${bins[$n]}" || true)
    { [ -n "$b" ] && [ -x "$b" ]; } || { echo "bench: $n binary '${bins[$n]}' not found" >&2; exit 1; }
    bins[$n]=$b
done

tmp=$(mktemp -d /tmp/berth-bench.XXXXXX)
# Runs "$@" for runtime $1: crun inside a private mount namespace without cgroup2's hybrid mount.
cleanup() {
    local n
    for n in "${names[@]}"; do
        delete_all "$n" "${bins[$n]}" "$tmp/state/root-$n"
    done
    if mountpoint -q "$tmp/state"; then umount "$tmp/state"; fi
    rm -rf --one-file-system -- "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

spec_rt=${SPEC_RUNTIME:-${bins[runc]}}
"$repo/scripts/make-rootfs.sh" "$tmp/rootfs"
ROOTFS=$tmp/rootfs BERTH=$spec_rt "$repo/scripts/make-bundle.sh" "$tmp/bundle-true" /bin/true
ROOTFS=$tmp/rootfs BERTH=$spec_rt "$repo/scripts/make-bundle.sh" "$tmp/bundle-sleep" sleep 1000
ROOTFS=$tmp/rootfs BERTH=$spec_rt "$repo/scripts/make-bundle.sh" "$tmp/bundle-limits" /bin/true
jq '.linux.resources.memory = {limit: 67108864} | .linux.resources.pids = {limit: 64}
    | .linux.resources.cpu = {shares: 512, quota: 50000, period: 100000}' \
    "$tmp/bundle-limits/config.json" > "$tmp/limits.json" && mv "$tmp/limits.json" "$tmp/bundle-limits/config.json"
ROOTFS=$tmp/rootfs BERTH=$spec_rt "$repo/scripts/make-bundle.sh" "$tmp/bundle-seccomp" /bin/true
jq --slurpfile d "$repo/crates/berth/tests/fixtures/client-configs/docker-config.json" \
    '.linux.seccomp = $d[0].linux.seccomp' "$tmp/bundle-seccomp/config.json" > "$tmp/seccomp.json" \
    && mv "$tmp/seccomp.json" "$tmp/bundle-seccomp/config.json"
mkdir -p "$tmp/out" "$tmp/state"
case ${STATE:-tmpfs} in
    tmpfs) mount -t tmpfs -o mode=0700 berth-bench "$tmp/state" ;;
    disk) ;;
    *) echo "bench: STATE must be tmpfs or disk" >&2; exit 1 ;;
esac
for n in "${names[@]}"; do mkdir -p "$tmp/state/root-$n"; done

metrics=(run seccomp cycle limits state exec rss)
declare -A dead=()
echo "bench: N=$N in $ROUNDS rounds, state roots on ${STATE:-tmpfs}; berth=${bins[berth]} runc=${bins[runc]} crun=${bins[crun]}" >&2
for ((r = 0; r < ROUNDS; r++)); do
    # Spread N over the rounds; rss costs a create per sample, so it takes a fifth as many.
    count=$(( N / ROUNDS + (r < N % ROUNDS ? 1 : 0) ))
    for m in "${metrics[@]}"; do
        c=$count
        [ "$m" = rss ] && c=$(( (count + 4) / 5 ))
        for n in "${names[@]}"; do
            [ -z "${dead[$n.$m]:-}" ] || continue
            if ! in_ns "$n" bash "$here/bench.sh" --worker "$n" "${bins[$n]}" "$m" "$c" \
                "$tmp/state/root-$n" "$tmp/out" "$tmp/bundle-true" "$tmp/bundle-sleep" "$tmp/bundle-limits" "$tmp/bundle-seccomp"; then
                dead[$n.$m]=1
                echo "bench: $n $m failed: $(tail -n 2 "$tmp/out/$n.$m.err" | tr '\n' ' ')" >&2
            fi
        done
    done
    echo "bench: round $((r + 1))/$ROUNDS done" >&2
done

# median FILE SCALE -> median/SCALE with 2 decimals, or n/a
median() {
    [ -s "$1" ] || { echo n/a; return; }
    sort -n "$1" | awk -v s="$2" '{ v[NR] = $1 } END {
        m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
        printf "%.2f", m / s }'
}
ratio() {
    case "$1$2" in *n/a*) echo n/a; return ;; esac
    awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }'
}
samples() { [ -s "$1" ] && wc -l < "$1" || echo 0; }

printf '\nstate roots on %s, load average %s\n' "${STATE:-tmpfs}" "$(cut -d' ' -f1-3 /proc/loadavg)"
printf '%-32s %9s %9s %9s %11s %11s\n' "median (N=$N)" berth runc crun berth/runc berth/crun
rows=("run:run /bin/true (ms)" "seccomp:the same, Docker's seccomp (ms)" "create:create (ms)" "start:start (ms)" "delete:delete --force (ms)"
      "cycle:create+start+delete (ms)" "limits:the same with mem+pids+cpu (ms)"
      "state:state (ms)" "exec:exec /bin/true (ms)"
      "rss:peak RSS of create (MiB)")
for row in "${rows[@]}"; do
    key=${row%%:*} label=${row#*:}
    scale=1000
    [ "$key" = rss ] && scale=1024
    declare -A med=()
    for n in "${names[@]}"; do
        f=$tmp/out/$n.$key
        # A metric whose block failed part-way is reported as n/a, not as a partial median.
        src=${key/create/cycle}; src=${src/start/cycle}; src=${src/delete/cycle}
        if [ -n "${dead[$n.$src]:-}" ]; then med[$n]=n/a; else med[$n]=$(median "$f" "$scale"); fi
    done
    printf '%-32s %9s %9s %9s %11s %11s\n' "$label" "${med[berth]}" "${med[runc]}" "${med[crun]}" \
        "$(ratio "${med[berth]}" "${med[runc]}")" "$(ratio "${med[berth]}" "${med[crun]}")"
done
printf '(samples per runtime: run %s, create+start+delete %s, state %s, exec %s, rss %s)\n' \
    "$(samples "$tmp/out/runc.run")" "$(samples "$tmp/out/runc.cycle")" \
    "$(samples "$tmp/out/runc.state")" "$(samples "$tmp/out/runc.exec")" "$(samples "$tmp/out/runc.rss")"
