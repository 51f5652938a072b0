#!/usr/bin/env bash
# imagerun.sh — where the image form's `run --rm IMAGE true` spends its time beyond the runtime
# form's `run` of a bundle on the same rootfs. Never part of the tests.
#
# Usage: bench/imagerun.sh [BEFORE]     (as root; BEFORE: another build's berth, its berth-people
#                                        beside it, timed interleaved with this one: an A/B)
# Env:   BERTH (default <repo>/target/x86_64-unknown-linux-gnu/release/berth; berth-people
#              beside it), N samples (default 20), T traced runs (default 5)
#
# The image: a busybox rootfs tar (the host's static busybox, one link per applet, and empty
# /etc/hosts and /etc/resolv.conf as most images have; ETC=0 leaves them out, so the init makes
# the mount points in the overlay: a copy-up of /etc) imported into a fresh store on the
# tempdir's disk (as /var/lib/berth); runtime state on a tmpfs (as /run).
# Prints:
#   1. wall time, median of N interleaved samples (each round starting with another form):
#      `run --rm --net none bb true` (image form),
#      `run --bundle B ID` (runtime form, B's rootfs the same busybox tree, `berth spec`'s
#      config), the runtime form with the config the image form generates (Docker's seccomp
#      profile, the /etc/hosts and resolv.conf binds and all: the same work but for what the
#      image form adds), the same on a fresh overlay of the image's layer mounted and unmounted
#      around each run, untimed (as containerd hands a runtime its root), and the floor of a
#      berth process (`berth --version`); then the image form's gap to each runtime form as
#      the median of the rounds' own differences;
#   2. berth's `--debug` steps, median of N: the image form's (the people face's own, run: …
#      and release: …, and the runtime's create/start/delete) beside the runtime form's;
#   3. the process hops before the image form's work starts, from `strace -f --seccomp-bpf`
#      stopping only at execve/execveat (so the rest runs untraced), median of T: berth's start
#      to the execve of berth-people (and to any further re-exec);
#   4. files and directories the image form creates and removes on the store's disk per run
#      (strace of one run, its detached remover included; the overlay's own work/ entries are
#      made by the kernel, not counted);
#   5. CPU time (perf stat task-clock, median of N interleaved samples) of the image form, the
#      runtime form and, with BEFORE, the other build's image form: what the load moves less
#      than wall time. "command": the image form's detached remover is mostly not in it (it
#      exits after perf reads the counters); "all": it is (each command followed by a sleep).
set -euo pipefail

here=$(cd "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
repo=$(dirname -- "$here")
# shellcheck source=scripts/env.sh
. "$repo/scripts/env.sh"
N=${N:-20}
T=${T:-5}
die() { echo "imagerun bench: $*" >&2; exit 1; }
[ "$(id -u)" -eq 0 ] || die "run as root"
[ -x "$BERTH" ] || die "berth binary $BERTH not found (cargo build --release)"
command -v strace >/dev/null || die "strace missing (apt-get install strace)"

tmp=$(mktemp -d /tmp/berth-imagerun.XXXXXX)
# The store and the rootfs each in a block group of their own, as /var/lib/berth is on a host:
# on an ext4 without a journal every inode allocation first walks past the group's inodes freed
# in the last minutes (recently_deleted()), and /tmp's group holds what every earlier bench and
# test freed there (one cleanup of this script frees ~1,000: the busybox tree, twice). With
# the Orlov flag (+T) on $tmp its subdirectories are spread over the groups by their names.
chattr +T "$tmp" 2>/dev/null || echo "imagerun: chattr +T failed: the store shares /tmp's block group" >&2
img=$tmp/img.$RANDOM$RANDOM
rootfs=$tmp/rootfs.$RANDOM$RANDOM
b() { "$BERTH" --root "$tmp/run/berth" --image-root "$img" "$@"; }
cleanup() {
    set +e
    local id
    for id in $(b list -q 2>/dev/null); do b delete --force "$id" >/dev/null 2>&1; done
    # The last runs' detached removers may still be at work in the store's trash (up to 5 s).
    for _ in $(seq 50); do [ -z "$(ls -A "$img/trash" 2>/dev/null)" ] && break; sleep 0.1; done
    for o in "$tmp"/ovl/*/merged; do umount "$o" 2>/dev/null; done
    umount "$tmp/run" 2>/dev/null
    rm -rf --one-file-system -- "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
mkdir -p "$tmp/run"
mount -t tmpfs -o mode=0700 berth-imagerun-run "$tmp/run"
mkdir -p "$tmp/run/berth" "$rootfs/bin"
cp /bin/busybox "$rootfs/bin/"
for a in $(/bin/busybox --list); do [ "$a" = busybox ] || ln -sf busybox "$rootfs/bin/$a"; done
mkdir -p "$rootfs/"{etc,proc,sys,dev,tmp}
[ "${ETC:-1}" = 0 ] || touch "$rootfs/etc/hosts" "$rootfs/etc/resolv.conf"
tar -C "$rootfs" -cf "$tmp/bb.tar" .
b image import "$tmp/bb.tar" bb:latest >/dev/null
mkdir -p "$tmp/bundle" && ln -s "$rootfs" "$tmp/bundle/rootfs"
(cd "$tmp/bundle" && "$BERTH" spec && jq '.process.args = ["true"] | .process.terminal = false' \
    config.json > c.json && mv c.json config.json)

# Timestamps: ${EPOCHREALTIME/./} (µs), read in place; a $(…) around it would fork a subshell
# inside every sample (~0.8 ms of fork and exit here, more beside a busy core).
# median of the numbers (µs) on stdin, printed in ms with 2 decimals
median_ms() { sort -n | awk '{ v[NR] = $1 } END { if (!NR) { print "n/a"; exit }
    m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2; printf "%.2f", m / 1000 }'; }
timed() { local t0; t0=${EPOCHREALTIME/./}; "$@" </dev/null >/dev/null; echo $((${EPOCHREALTIME/./} - t0)); }
echo "imagerun: N=$N T=$T, load average $(cut -d' ' -f1-3 /proc/loadavg)" >&2

# The runtime form with the image form's own config (Docker's seccomp profile, its mounts,
# the /etc/hosts and /etc/resolv.conf binds from copies in its bundle, its capabilities; the
# image root's annotations left out, so no release), on the same plain rootfs: what the image
# form adds beyond the config it generates.
b run --name "cfg$$" --net none bb true
mkdir -p "$tmp/bundle-cfg" && ln -s "$rootfs" "$tmp/bundle-cfg/rootfs"
cp "$img/containers/cfg$$/hosts" "$img/containers/cfg$$/resolv.conf" "$tmp/bundle-cfg/"
jq --arg from "$img/containers/cfg$$/" --arg to "$tmp/bundle-cfg/" \
    'del(.annotations) | .root.path = "rootfs"
    | .mounts |= map(if .source then .source |= sub("^" + $from; $to) else . end)' \
    "$img/containers/cfg$$/config.json" > "$tmp/bundle-cfg/config.json"
grep -q "$img" "$tmp/bundle-cfg/config.json" && die "the config still names the image store"
b rm "cfg$$" >/dev/null
# The runtime form as containerd drives it: the same config on a fresh overlay of the image's
# own layer (containerd's snapshotter makes a container's root before it calls the runtime):
# what the image form adds beyond its config and the overlay root a runtime is handed. One
# overlay per round, all mounted before the rounds and unmounted after them: a mount between
# two rounds would leave time for the cgroup join's RCU sync to go idle (bench/README.md),
# and the next round would pay 10-20 ms for it.
layer=$(echo "$img"/layers/*/diff)
[ -d "$layer" ] || die "the image's one layer dir not found ($layer)"
mkdir -p "$tmp/ovl-etc" && cp "$tmp/bundle-cfg/hosts" "$tmp/bundle-cfg/resolv.conf" "$tmp/ovl-etc/"
for ((i = 0; i < N; i++)); do
    o=$tmp/ovl/$i
    mkdir -p "$o/upper" "$o/work" "$o/merged" "$tmp/bundle-ovl-$i"
    mount -t overlay overlay -o "lowerdir=$layer,upperdir=$o/upper,workdir=$o/work,volatile" "$o/merged"
    ln -s "$o/merged" "$tmp/bundle-ovl-$i/rootfs"
    sed "s|$tmp/bundle-cfg/|$tmp/ovl-etc/|g" "$tmp/bundle-cfg/config.json" > "$tmp/bundle-ovl-$i/config.json"
done

# --- 1. wall time --------------------------------------------------------------------------------
b run --rm --net none bb true # warm-up: the seccomp cache, page cache
[ -z "${1:-}" ] || "$1" --root "$tmp/run/berth" --image-root "$img" run --rm --net none bb true
for ((i = 0; i < N; i++)); do
    # Each round starts with another form: what a run leaves the kernel to finish (a cgroup's
    # release, RCU callbacks) falls on the next, and the first of a round follows the last
    # round's `--version`; a fixed order charged that to the same form every round.
    for ((k = 0; k < 4; k++)); do
        case $(((i + k) % 4)) in
        0) timed b --debug --log "$tmp/steps.log" run --rm --net none bb true >> "$tmp/wall.image" ;;
        1) timed b --debug --log "$tmp/steps-bundle.log" run --bundle "$tmp/bundle" "r$$-$i" \
            >> "$tmp/wall.bundle" ;;
        2) timed b --debug --log "$tmp/steps-cfg.log" run --bundle "$tmp/bundle-cfg" "g$$-$i" \
            >> "$tmp/wall.cfg" ;;
        3) timed b --debug --log "$tmp/steps-ovl.log" run --bundle "$tmp/bundle-ovl-$i" "o$$-$i" \
            >> "$tmp/wall.ovl" ;;
        esac
    done
    timed "$BERTH" --version >> "$tmp/wall.version"
    if [ -n "${1:-}" ]; then
        timed "$1" --root "$tmp/run/berth" --image-root "$img" run --rm --net none bb true \
            >> "$tmp/wall.before"
        timed b run --rm --net none bb true >> "$tmp/wall.after"
    fi
done
printf '\n%-64s %8s\n' "wall time (median of $N, ms)" median
printf '%-64s %8s\n' "run --rm --net none bb true (image form, with --debug)" "$(median_ms < "$tmp/wall.image")"
printf '%-64s %8s\n' "run --bundle B ID, same rootfs (runtime form, with --debug)" "$(median_ms < "$tmp/wall.bundle")"
printf '%-64s %8s\n' "run --bundle B ID, same rootfs, the image form's config" "$(median_ms < "$tmp/wall.cfg")"
printf '%-64s %8s\n' "  the same on a fresh overlay of the image (containerd's way)" "$(median_ms < "$tmp/wall.ovl")"
printf '%-64s %8s\n' "berth --version (a process start)" "$(median_ms < "$tmp/wall.version")"
# The gap as the median of each round's own difference: the rounds are interleaved, so a drift
# of the machine's speed (±25% over minutes on this VM) moves both sides of a difference alike.
paired() { paste "$1" "$2" | awk '{ print $1 - $2 }' | median_ms; }
printf '%-64s %8s\n' "image form − runtime form (median of the $N rounds' differences)" \
    "$(paired "$tmp/wall.image" "$tmp/wall.bundle")"
printf '%-64s %8s\n' "image form − runtime form with its config (the same, paired)" \
    "$(paired "$tmp/wall.image" "$tmp/wall.cfg")"
printf '%-64s %8s\n' "image form − the same on a fresh overlay (the same, paired)" \
    "$(paired "$tmp/wall.image" "$tmp/wall.ovl")"
if [ -n "${1:-}" ]; then
    printf '%-64s %8s\n' "run --rm --net none bb true, BEFORE ($1)" "$(median_ms < "$tmp/wall.before")"
    printf '%-64s %8s\n' "run --rm --net none bb true, this build (no --debug)" "$(median_ms < "$tmp/wall.after")"
fi

# --- 2. steps ------------------------------------------------------------------------------------
tsv() { perl -ne 'next unless /msg="(.*): ([0-9.]+)(ns|µs|ms|s)"/;
    my %f = (ns => 0.001, "µs" => 1, ms => 1000, s => 1e6);
    printf "%s\t%.3f\n", $1, $2 * $f{$3}' "$1"; }
tsv "$tmp/steps.log" > "$tmp/steps.tsv"
tsv "$tmp/steps-bundle.log" > "$tmp/steps-bundle.tsv"
tsv "$tmp/steps-cfg.log" > "$tmp/steps-cfg.tsv"
tsv "$tmp/steps-ovl.log" > "$tmp/steps-ovl.tsv"
step_ms() { awk -F'\t' -v n="$1" '$1 == n { print $2 }' "$2" | median_ms; }
printf '\n%-64s %8s %8s %8s %8s\n' "--debug steps (median of $N, ms)" image runtime "its cfg" overlay
cut -f1 "$tmp/steps.tsv" | awk '!seen[$0]++' | while read -r name; do
    printf '%-64s %8s %8s %8s %8s\n' "  $name" "$(step_ms "$name" "$tmp/steps.tsv")" \
        "$(step_ms "$name" "$tmp/steps-bundle.tsv")" "$(step_ms "$name" "$tmp/steps-cfg.tsv")" \
        "$(step_ms "$name" "$tmp/steps-ovl.tsv")"
done

# --- 3. the process hops -------------------------------------------------------------------------
for ((k = 0; k < T; k++)); do
    strace -f --seccomp-bpf -ttt -qq -e trace=execve,execveat -o "$tmp/hops.$k" \
        "$BERTH" --root "$tmp/run/berth" --image-root "$img" run --rm --net none bb true </dev/null
    # The exec calls of the first process (berth's pid) until the container's own execve.
    awk -v out="$tmp/hop" 'NR == 1 { pid = $1 } $1 == pid && /exec/ { t[++n] = $2 }
        END { for (i = 2; i <= n; i++) printf "%d\n", (t[i] - t[i - 1]) * 1e6 > (out "." i - 1) }' \
        "$tmp/hops.$k"
    awk 'NR == 1 { pid = $1 } $1 == pid && /exec/ { n++ } END { print n }' "$tmp/hops.$k" >> "$tmp/hops.count"
done
printf '\n%-64s %8s\n' "process hops (strace at exec only, median of $T, ms)" median
printf '%-64s %8s\n' "  execs before the image form's work (berth, berth-people)" \
    "$(sort -n "$tmp/hops.count" | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }')"
names=("" "berth start (parse) → execve berth-people" "berth-people start → a re-exec"
       "→ another re-exec")
for i in 1 2 3; do
    [ -s "$tmp/hop.$i" ] || continue
    printf '%-64s %8s\n' "  ${names[$i]}" "$(median_ms < "$tmp/hop.$i")"
done

# --- 4. files made and removed on the store's disk -------------------------------------------------
# Everything made for the container (by berth, by the init's mount points and by overlayfs in
# work/) is removed by the release: its removals count them.
strace -f -y -qq -e trace=unlinkat,rmdir,unlink -o "$tmp/files" \
    "$BERTH" --root "$tmp/run/berth" --image-root "$img" run --rm --net none bb true </dev/null
printf '\n%-64s %8s\n' "files and directories made and removed per run (strace)" count
printf '%-64s %8s\n' "  under the container's directory in the store" \
    "$(grep -E "$img/(containers|trash)" "$tmp/files" | grep -vc "= -1" || true)"

# --- 5. CPU time -----------------------------------------------------------------------------------
# "all": the same command in `sh -c 'CMD; sleep 0.3'`, so that the image form's detached remover
# has exited (and its CPU time reached perf's inherited counter) before perf reads; the sh and the
# sleep add the same to each line.
if command -v perf >/dev/null; then
    cpu() { # cpu FILE CMD…: the task-clock of one run, µs
        local f=$1; shift
        perf stat -x, -e task-clock -o "$tmp/perf" "$@" </dev/null >/dev/null 2>&1
        awk -F, '/task-clock/ { printf "%d\n", $1 * 1000 }' "$tmp/perf" >> "$f"
    }
    all() { local f=$1; shift; cpu "$f" sh -c '"$@"; sleep 0.3' sh "$@"; }
    img=(--root "$tmp/run/berth" --image-root "$img" run --rm --net none bb true)
    for ((i = 0; i < N; i++)); do
        cpu "$tmp/cpu.image" "$BERTH" "${img[@]}"
        cpu "$tmp/cpu.bundle" "$BERTH" --root "$tmp/run/berth" run --bundle "$tmp/bundle" "c$$-$i"
        cpu "$tmp/cpu.cfg" "$BERTH" --root "$tmp/run/berth" run --bundle "$tmp/bundle-cfg" "k$$-$i"
        [ -z "${1:-}" ] || cpu "$tmp/cpu.before" "$1" "${img[@]}"
        all "$tmp/all.image" "$BERTH" "${img[@]}"
        all "$tmp/all.bundle" "$BERTH" --root "$tmp/run/berth" run --bundle "$tmp/bundle" "a$$-$i"
        all "$tmp/all.cfg" "$BERTH" --root "$tmp/run/berth" run --bundle "$tmp/bundle-cfg" "m$$-$i"
        [ -z "${1:-}" ] || all "$tmp/all.before" "$1" "${img[@]}"
    done
    printf '\n%-64s %8s %8s\n' "CPU time (perf task-clock, median of $N, ms)" command all
    line() { printf '%-64s %8s %8s\n' "  $1" "$(median_ms < "$tmp/cpu.$2")" "$(median_ms < "$tmp/all.$2")"; }
    line "run --rm --net none bb true (image form)" image
    line "run --bundle B ID (runtime form)" bundle
    line "run --bundle B ID, the image form's config" cfg
    [ -z "${1:-}" ] || line "run --rm --net none bb true, BEFORE" before
fi
echo "imagerun: load average at the end $(cut -d' ' -f1-3 /proc/loadavg)" >&2
