#!/usr/bin/env bash
# lifecycle.sh — the people face's container lifecycle against podman+conmon+runc, side by side
# in one run. Never part of the tests.
#
# Usage: bench/lifecycle.sh        (as root)
# Env:   BERTH (default <repo>/target/x86_64-unknown-linux-gnu/release/berth)
#        N      monitors / samples (default 10)    LIST_N  kept containers listed (default 1000)
#
# The image: a busybox rootfs tar (the host's static busybox, one link per applet) imported
# into berth's store and podman's storage.
#
# Metrics:
#   monitor memory  N detached `sleep 1000` containers each: for each berth monitor
#                   (`berth-monitor`) and each conmon, /proc/PID/smaps_rollup's Rss, Pss and private
#                   (Private_Clean + Private_Dirty: what this process alone costs; text pages
#                   are shared by every monitor). Mean over the N, KiB.
#   stop            `stop -t 1` of a container whose PID 1 ignores SIGTERM (busybox sleep):
#                   wall time minus the 1 s timeout, ms, median of N.
#   list            `berth ps -a` with LIST_N kept (created) containers, ms, median of N.
#   run --rm        `run --rm --net none IMAGE true` in the image form, the runtime form's `run`
#                   of a bundle over the same rootfs (what the image form adds is the overlay,
#                   the generated config, Docker's seccomp profile and the release), and podman
#                   `run --rm --network none` with runc; ms, median of N, interleaved (the
#                   berth forms after an untimed berth run, each first in every other round).
#   Runtime state is on a tmpfs, as /run; image stores on the tempdir's disk, as /var/lib.
set -euo pipefail

here=$(cd "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
repo=$(dirname -- "$here")
# shellcheck source=scripts/env.sh
. "$repo/scripts/env.sh"
# shellcheck source=scripts/podman-private.sh
. "$repo/scripts/podman-private.sh"
N=${N:-10}
LIST_N=${LIST_N:-1000}

# Timestamps: ${EPOCHREALTIME/./} (µs), read in place; a $(…) around it would fork a subshell
# inside every sample (~0.8 ms of fork and exit here, more beside a busy core).
die() { echo "lifecycle bench: $*" >&2; exit 1; }
[ "$(id -u)" -eq 0 ] || die "run as root"
for t in podman runc conmon; do
    command -v "$t" >/dev/null || die "$t missing (apt-get install -y podman runc conmon)"
done
[ -x "$BERTH" ] || die "berth binary $BERTH not found (cargo build --release)"
[ -x "$(dirname -- "$BERTH")/berth-monitor" ] || die "berth-monitor not found beside $BERTH"
RUNC=$(command -v runc)

tmp=$(mktemp -d /tmp/berth-lifebench.XXXXXX)
podman_flags=(--root "$tmp/podman/root" --runroot "$tmp/run/podman" --tmpdir "$tmp/run/podman-tmp"
              --storage-driver overlay --cgroup-manager cgroupfs --events-backend file
              --network-config-dir "$tmp/podman/cni")
pod() { CONTAINERS_CONF=$tmp/containers.conf podman "${podman_flags[@]}" "$@"; }
b() { "$BERTH" --root "$tmp/run/berth" --image-root "$tmp/berth-img" "$@"; }
podman_private_record
cleanup() {
    set +e
    pod rm --all --force --time 0 >/dev/null 2>&1
    local id
    for id in $(b ps -a -q 2>/dev/null); do b rm -f "$id" >/dev/null 2>&1; done
    podman_private_restore "$tmp"
    rm -rf --one-file-system -- "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
mkdir -p "$tmp/run"
mount -t tmpfs -o mode=0700 berth-lifebench-run "$tmp/run"
mkdir -p "$tmp/run/berth" "$tmp/rootfs/bin"
cp /bin/busybox "$tmp/rootfs/bin/"
for a in $(/bin/busybox --list); do [ "$a" = busybox ] || ln -sf busybox "$tmp/rootfs/bin/$a"; done
mkdir -p "$tmp/rootfs/"{etc,proc,sys,dev,tmp}
tar -C "$tmp/rootfs" -cf "$tmp/bb.tar" .
b image import "$tmp/bb.tar" bb:latest >/dev/null
cat > "$tmp/containers.conf" <<EOF
[containers]
default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]
[network]
network_backend = "cni"
EOF
pod import --quiet "$tmp/bb.tar" localhost/bb:latest >/dev/null

# mem PID → "rss pss private" in KiB
mem() {
    awk '/^Rss:/{r=$2} /^Pss:/{p=$2} /^Private_(Clean|Dirty):/{u+=$2} END{print r, p, u}' \
        "/proc/$1/smaps_rollup"
}
mean_of() { awk -v c="$1" '{s+=$c; n++} END{printf "%d", n ? s/n : 0}'; }
median() { sort -n | awk '{a[NR]=$1} END{print a[int((NR+1)/2)]}'; }

# --- monitor memory ---------------------------------------------------------------------------
: > "$tmp/mem.berth"; : > "$tmp/mem.conmon"
for i in $(seq "$N"); do
    b run -d --name "m$i" --net none bb sleep 1000 >/dev/null
    pod run -d --name "m$i" --network none --runtime "$RUNC" localhost/bb:latest sleep 1000 >/dev/null
done
for pid in $(pgrep -x berth-monitor); do
    tr "\\0" " " < "/proc/$pid/cmdline" | grep -q -F -- "$tmp/" && mem "$pid" >> "$tmp/mem.berth"
done
for pid in $(pgrep -x conmon); do
    grep -q -F -- "$tmp/" "/proc/$pid/cmdline" && mem "$pid" >> "$tmp/mem.conmon"
done

# --- stop of a container that ignores SIGTERM ---------------------------------------------------
: > "$tmp/stop.berth"; : > "$tmp/stop.podman"
for i in $(seq "$N"); do
    t0=${EPOCHREALTIME/./}; b stop -t 1 "m$i" >/dev/null; t1=${EPOCHREALTIME/./}
    echo $(( (t1 - t0) / 1000 - 1000 )) >> "$tmp/stop.berth"
    t0=${EPOCHREALTIME/./}; pod stop -t 1 "m$i" >/dev/null; t1=${EPOCHREALTIME/./}
    echo $(( (t1 - t0) / 1000 - 1000 )) >> "$tmp/stop.podman"
done
pod rm --all --force --time 0 >/dev/null

# --- listing of LIST_N kept containers ----------------------------------------------------------
for id in $(b ps -a -q); do b rm -f "$id" >/dev/null; done
for i in $(seq "$LIST_N"); do b container create --name "k$i" --net none bb true >/dev/null; done
: > "$tmp/list.berth"
for _ in $(seq "$N"); do
    t0=${EPOCHREALTIME/./}; b ps -a >/dev/null; t1=${EPOCHREALTIME/./}
    echo $(( (t1 - t0) / 1000 )) >> "$tmp/list.berth"
done

# --- run --rm of /bin/true ----------------------------------------------------------------------
mkdir -p "$tmp/bundle" && ln -s "$tmp/rootfs" "$tmp/bundle/rootfs"
(cd "$tmp/bundle" && "$BERTH" spec && jq '.process.args = ["true"] | .process.terminal = false' \
    config.json > c.json && mv c.json config.json)
: > "$tmp/run.image"; : > "$tmp/run.bundle"; : > "$tmp/run.podman"
# After podman's ~150 ms the next container's cgroup join waits ~10 ms for an RCU sync that
# went idle meanwhile (bench/README.md, session 11): an untimed berth run takes that wait, and
# the two berth forms take turns at going first.
for i in $(seq "$N"); do
    t0=${EPOCHREALTIME/./}; pod run --rm --network none --runtime "$RUNC" localhost/bb:latest true; t1=${EPOCHREALTIME/./}
    echo $(( (t1 - t0) / 1000 )) >> "$tmp/run.podman"
    b run --bundle "$tmp/bundle" "w$i" </dev/null
    for form in $(if ((i % 2)); then echo image bundle; else echo bundle image; fi); do
        t0=${EPOCHREALTIME/./}
        case $form in
        image) b run --rm --net none bb true ;;
        bundle) b run --bundle "$tmp/bundle" "r$i" </dev/null ;;
        esac
        t1=${EPOCHREALTIME/./}
        echo $(( (t1 - t0) / 1000 )) >> "$tmp/run.$form"
    done
done

printf '%-44s %10s %10s\n' "" berth podman
printf '%-44s %10s %10s\n' "monitor Rss, KiB (mean of $(wc -l < "$tmp/mem.berth"))" \
    "$(mean_of 1 < "$tmp/mem.berth")" "$(mean_of 1 < "$tmp/mem.conmon")"
printf '%-44s %10s %10s\n' "monitor Pss, KiB" "$(mean_of 2 < "$tmp/mem.berth")" "$(mean_of 2 < "$tmp/mem.conmon")"
printf '%-44s %10s %10s\n' "monitor private (USS), KiB" "$(mean_of 3 < "$tmp/mem.berth")" "$(mean_of 3 < "$tmp/mem.conmon")"
printf '%-44s %10s %10s\n' "stop -t 1 of a TERM-ignoring one, ms over 1 s" \
    "$(median < "$tmp/stop.berth")" "$(median < "$tmp/stop.podman")"
printf '%-44s %10s %10s\n' "ps -a of $LIST_N kept containers, ms" "$(median < "$tmp/list.berth")" "-"
printf '%-44s %10s %10s\n' "run --rm IMAGE true, ms" "$(median < "$tmp/run.image")" "$(median < "$tmp/run.podman")"
printf '%-44s %10s %10s\n' "run of a bundle on the same rootfs, ms" "$(median < "$tmp/run.bundle")" "-"
