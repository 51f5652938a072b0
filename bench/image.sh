#!/usr/bin/env bash
# image.sh — berth's image path against skopeo+umoci and podman+runc, side by side in one run.
# Never part of the tests.
#
# Usage: bench/image.sh            (as root)
# Env:   BERTH  (default <repo>/target/x86_64-unknown-linux-gnu/release/berth)
#        OVERLAY_SETUP  the overlay_setup example (default: built here with
#               `cargo build --release -p berth-image --example overlay_setup` when missing)
#        N      samples per metric (default 10)   PULL_N  samples of the pulls (default N)
#        ROUNDS samples are split into ROUNDS blocks, interleaved across the tools (default 5)
#        CACHE  where bench/make-debian-image.sh keeps its debootstrap trees (default
#               /var/cache/berth-bench)
#        PULL_FS  where the pulls write: tmpfs (default; a tmpfs mounted here) or disk (the
#               tempdir's filesystem). On disk, ext4's inode allocator dominates both tools' time
#               once earlier samples' files were deleted (it skips recently freed inodes), so the
#               default measures the tools rather than that.
#
# The image: bench/make-debian-image.sh's Debian bookworm (three layers, the last one only
# whiteouts), pushed to Debian's docker-registry started here on 127.0.0.1 (plain HTTP).
#
# Metrics (wall time, ms; the median is printed):
#   pull+unpack  berth: `berth --image-root FRESH image pull --insecure REF` (download, verify,
#                unpack every layer into the store)
#                skopeo+umoci: `skopeo copy --src-tls-verify=false docker://REF oci:FRESH:bench`
#                then `umoci unpack --image FRESH:bench BUNDLE`; each half is printed too.
#                Fresh directories per sample (on PULL_FS), removed and `sync`ed outside the
#                timing.
#   run          berth: `berth run --rm --net none REF true` (the image already in berth's store)
#                podman: `podman run --rm --network none --runtime runc REF true` (the image
#                already in podman's storage; cgroupfs, events to a file, private storage)
#                and, for reference, berth's runtime face on umoci's bundle of the same image:
#                `berth run --bundle B ID`
#   Runtime state (berth/runc --root, podman --runroot) is on a tmpfs, as /run; berth's image
#   store and podman's storage are on the tempdir's disk, as /var/lib.
#   overlay setup  the container root alone: Store::create_container_root (lock, lookup,
#                record, mkdirs, overlay mount) timed inside the overlay_setup example, and
#                the wall time of that example process (which also tears the root down again);
#                against `runc create` (wall) of umoci's bundle, whose rootfs needs no mount.
set -euo pipefail

here=$(cd "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
repo=$(dirname -- "$here")
# shellcheck source=scripts/env.sh
. "$repo/scripts/env.sh"
# shellcheck source=scripts/podman-private.sh
. "$repo/scripts/podman-private.sh"
N=${N:-10}
PULL_N=${PULL_N:-$N}
ROUNDS=${ROUNDS:-5}
[ "$ROUNDS" -le "$N" ] || ROUNDS=$N
[ "$ROUNDS" -le "$PULL_N" ] || ROUNDS=$PULL_N

# Timestamps: ${EPOCHREALTIME/./} (µs), read in place; a $(…) around it would fork a subshell
# inside every sample (~0.8 ms of fork and exit here, more beside a busy core).
die() { echo "image bench: $*" >&2; exit 1; }

[ "$(id -u)" -eq 0 ] || die "run as root"
for t in skopeo umoci podman runc docker-registry jq conmon; do
    command -v "$t" >/dev/null || die "$t missing (apt-get install -y skopeo umoci podman runc docker-registry jq conmon)"
done
[ -x "$BERTH" ] || die "berth binary $BERTH not found (cargo build --release: builds berth and berth-people)"
[ -x "$(dirname -- "$BERTH")/berth-people" ] \
    || die "berth-people not found beside $BERTH (berth executes it for images and run IMAGE)"
OVERLAY_SETUP=${OVERLAY_SETUP:-${CARGO_TARGET_DIR:-$repo/target}/x86_64-unknown-linux-gnu/release/examples/overlay_setup}
if [ ! -x "$OVERLAY_SETUP" ]; then
    (cd "$repo" && cargo build --release -p berth-image --example overlay_setup) >&2 \
        || die "cannot build the overlay_setup example"
fi
RUNC=$(command -v runc)

tmp=$(mktemp -d /tmp/berth-imgbench.XXXXXX)
registry_pid=
podman_flags=(--root "$tmp/podman/root" --runroot "$tmp/run/podman" --tmpdir "$tmp/run/podman-tmp"
              --storage-driver overlay --cgroup-manager cgroupfs --events-backend file
              --network-config-dir "$tmp/podman/cni")
pod() { CONTAINERS_CONF=$tmp/containers.conf podman "${podman_flags[@]}" "$@"; }
podman_private_record
cleanup() {
    set +e
    pod rm --all --force --time 0 >/dev/null 2>&1
    pod image rm --all --force >/dev/null 2>&1
    local id
    for id in $("$BERTH" --root "$tmp/run/berth" list -q 2>/dev/null); do
        "$BERTH" --root "$tmp/run/berth" delete --force "$id" >/dev/null 2>&1
    done
    for id in $("$RUNC" --root "$tmp/run/runc" list -q 2>/dev/null); do
        "$RUNC" --root "$tmp/run/runc" delete --force "$id" >/dev/null 2>&1
    done
    [ -z "$registry_pid" ] || { kill "$registry_pid"; wait "$registry_pid"; } 2>/dev/null
    podman_private_restore "$tmp"
    rm -rf --one-file-system -- "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Runtime state (berth's and runc's --root, podman's --runroot) on a tmpfs, as /run is; image
# stores (berth's, podman's --root) on the tempdir's disk, as /var/lib.
mkdir -p "$tmp/run"
mount -t tmpfs -o mode=0700 berth-imgbench-run "$tmp/run"
mkdir -p "$tmp/run/berth" "$tmp/run/runc"

# --- registry and image -------------------------------------------------------------------------
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
mkdir -p "$tmp/registry"
cat > "$tmp/registry/config.yml" <<EOF
version: 0.1
log:
  level: error
storage:
  filesystem:
    rootdirectory: $tmp/registry/data
http:
  addr: 127.0.0.1:$port
EOF
docker-registry serve "$tmp/registry/config.yml" >"$tmp/registry/log" 2>&1 &
registry_pid=$!
for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.1; done
ref=127.0.0.1:$port/bench/debian:bookworm
CACHE=${CACHE:-/var/cache/berth-bench} "$here/make-debian-image.sh" "$ref" >/dev/null
echo "image bench: $ref pushed" >&2

# --- berth's store, podman's storage, umoci's bundle ----------------------------------------------
"$BERTH" --image-root "$tmp/berth-img" image pull --insecure "$ref" >/dev/null 2>&1 || die "berth pull failed"
"$BERTH" --image-root "$tmp/berth-img" image ls >&2
# podman's default nofile/nproc limits exceed this host's hard RLIMIT_NOFILE (20000).
cat > "$tmp/containers.conf" <<EOF
[containers]
default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]
[network]
network_backend = "cni"
EOF
pod pull --quiet --tls-verify=false "$ref" >/dev/null || die "podman pull failed"
skopeo copy --quiet --src-tls-verify=false "docker://$ref" "oci:$tmp/oci:bench" >/dev/null
umoci unpack --image "$tmp/oci:bench" "$tmp/bundle" >/dev/null
jq '.process.args = ["/bin/true"] | .process.terminal = false' "$tmp/bundle/config.json" \
    > "$tmp/config.json" && mv "$tmp/config.json" "$tmp/bundle/config.json"
rm -rf "$tmp/oci"
mkdir -p "$tmp/out" "$tmp/pulls"
case ${PULL_FS:=tmpfs} in
    tmpfs) mount -t tmpfs -o size=8g,mode=0700 berth-imgbench "$tmp/pulls" ;;
    disk) ;;
    *) die "PULL_FS=$PULL_FS: tmpfs or disk" ;;
esac

sample() { echo "$2" >> "$tmp/out/$1"; }
quiet() { "$@" </dev/null >/dev/null 2>>"$tmp/out/errors" || die "failed: $* (see below)$(tail -n 3 "$tmp/out/errors")"; }
scrub() { rm -rf --one-file-system -- "$@"; sync; }

pull_berth() {
    local d=$tmp/pulls/berth t0
    t0=${EPOCHREALTIME/./}
    quiet "$BERTH" --image-root "$d" image pull --insecure "$ref"
    sample pull.berth $((${EPOCHREALTIME/./} - t0))
    scrub "$d"
}
pull_skopeo() {
    local d=$tmp/pulls/oci t0 t1
    mkdir -p "$d"
    t0=${EPOCHREALTIME/./}
    quiet skopeo copy --quiet --src-tls-verify=false "docker://$ref" "oci:$d/oci:bench"
    t1=${EPOCHREALTIME/./}
    quiet umoci unpack --image "$d/oci:bench" "$d/bundle"
    sample pull.skopeo $((${EPOCHREALTIME/./} - t0))
    sample skopeo.copy $((t1 - t0)); sample umoci.unpack $((${EPOCHREALTIME/./} - t1))
    scrub "$d"
}
run_berth() {
    local t0
    t0=${EPOCHREALTIME/./}
    quiet "$BERTH" --root "$tmp/run/berth" --image-root "$tmp/berth-img" run --rm --net none "$ref" true
    sample run.berth $((${EPOCHREALTIME/./} - t0))
}
run_podman() {
    local t0
    t0=${EPOCHREALTIME/./}
    quiet pod run --rm --network none --runtime "$RUNC" "$ref" true
    sample run.podman $((${EPOCHREALTIME/./} - t0))
}
run_runtime() {
    local t0 id=rt$1
    t0=${EPOCHREALTIME/./}
    quiet "$BERTH" --root "$tmp/run/berth" run --bundle "$tmp/bundle" "$id"
    sample run.runtime $((${EPOCHREALTIME/./} - t0))
}
overlay() {
    local t0 out
    t0=${EPOCHREALTIME/./}
    out=$("$OVERLAY_SETUP" "$tmp/berth-img" "$ref" "ov$1" 2>>"$tmp/out/errors") || die "overlay_setup failed"
    sample overlay.wall $((${EPOCHREALTIME/./} - t0))
    sample overlay.setup "$(sed -n 1p <<<"$out")"
    sample overlay.remove "$(sed -n 2p <<<"$out")"
}
runc_create() {
    local t0 id=rc$1
    t0=${EPOCHREALTIME/./}
    quiet "$RUNC" --root "$tmp/run/runc" create --bundle "$tmp/bundle" "$id"
    sample runc.create $((${EPOCHREALTIME/./} - t0))
    quiet "$RUNC" --root "$tmp/run/runc" delete --force "$id"
}

echo "image bench: N=$N (pulls $PULL_N) in $ROUNDS rounds" >&2
k=0
for ((r = 0; r < ROUNDS; r++)); do
    pc=$(( PULL_N / ROUNDS + (r < PULL_N % ROUNDS ? 1 : 0) ))
    rc=$(( N / ROUNDS + (r < N % ROUNDS ? 1 : 0) ))
    for ((i = 0; i < pc; i++)); do pull_berth; done
    for ((i = 0; i < pc; i++)); do pull_skopeo; done
    for ((i = 0; i < rc; i++)); do run_berth; done
    for ((i = 0; i < rc; i++)); do run_podman; done
    for ((i = 0; i < rc; i++)); do run_runtime $((k + i)); done
    for ((i = 0; i < rc; i++)); do overlay $((k + i)); done
    for ((i = 0; i < rc; i++)); do runc_create $((k + i)); done
    k=$((k + rc))
    echo "image bench: round $((r + 1))/$ROUNDS done" >&2
done

median() {
    [ -s "$tmp/out/$1" ] || { echo n/a; return; }
    sort -n "$tmp/out/$1" | awk '{ v[NR] = $1 } END {
        m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
        printf "%.2f", m / 1000 }'
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }'; }
row() { printf '%-52s %10s %10s %8s\n' "$1" "$2" "$3" "$(ratio "$2" "$3")"; }

size=$(du -sb "$tmp/bundle/rootfs" | cut -f1)
layers=$("$BERTH" --image-root "$tmp/berth-img" image ls | awk 'NR == 2 { print $4 }')
printf '\nimage %s: %s MB unpacked, %s layers; pulls on %s\n' "$ref" "$((size / 1000000))" "$layers" "$PULL_FS"
printf '%-52s %10s %10s %8s\n' "median (ms; pulls N=$PULL_N, others N=$N)" berth other ratio
row "pull+unpack  vs skopeo copy + umoci unpack" "$(median pull.berth)" "$(median pull.skopeo)"
printf '%-52s %10s %10s\n' "  (skopeo copy, umoci unpack alone)" "$(median skopeo.copy)" "$(median umoci.unpack)"
row "run --rm IMAGE true  vs podman+runc" "$(median run.berth)" "$(median run.podman)"
row "run --rm IMAGE true  vs berth runtime face" "$(median run.berth)" "$(median run.runtime)"
row "overlay setup (in-process)  vs runc create" "$(median overlay.setup)" "$(median runc.create)"
row "overlay setup+teardown (process wall) vs runc create" "$(median overlay.wall)" "$(median runc.create)"
printf '%-52s %10s\n' "overlay teardown (in-process)" "$(median overlay.remove)"
