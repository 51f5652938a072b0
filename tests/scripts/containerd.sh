#!/usr/bin/env bash
# containerd drives the runtime under test ($BERTH) through its runc shim (io.containerd.runc.v2).
#
# Starts a private containerd (own root, state, sockets under a tempdir, CRI plugin disabled),
# imports a busybox image built here by hand as an OCI archive from scripts/make-rootfs.sh's tree,
# then checks:
#   1. `ctr run --rm --runc-binary $BERTH IMAGE ID echo hello` prints exactly "hello";
#   2. a detached `sleep 1000`: RUNNING, then `ctr task kill -s SIGKILL` -> STOPPED,
#      `ctr task delete`, `ctr container delete`, and the runtime no longer knows the ID;
#      again with `ctr task kill --all -s SIGKILL`.
# containerd then calls the runtime as: --root R --log F --log-format json create --bundle B
# --pid-file P ID; start ID; kill ID 9; kill --all ID 9; delete ID; delete --force ID; the test
# itself calls `--root R state ID`.
# Installs nothing (CI installs containerd). Stops containerd, its shims, their mounts and dirs on
# every exit path. Env: BERTH (default <repo>/target/x86_64-unknown-linux-gnu/release/berth).
set -euo pipefail

here=$(cd "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
# shellcheck source=scripts/env.sh
. "$repo/scripts/env.sh"

fail() { echo "FAIL: $*" >&2; exit 1; }
info() { echo "--- $*" >&2; }

[ "$(id -u)" -eq 0 ] || fail "must run as root"
for tool in containerd ctr containerd-shim-runc-v2 jq tar sha256sum; do
    command -v "$tool" >/dev/null || fail "$tool not installed (apt-get install containerd jq)"
done
[ -x "$BERTH" ] || fail "runtime $BERTH not found (cargo build --release, or set BERTH)"

tmp=$(mktemp -d /tmp/berth-containerd.XXXXXX)
ns=berth-test
sock=$tmp/containerd.sock
ctrd_pid=
image=docker.io/library/berth-busybox:test

ctr_bin=$(command -v ctr)
ctr() { "$ctr_bin" --address "$sock" --namespace "$ns" "$@"; }

cleanup() {
    local rc=$?
    set +e
    if [ -n "$ctrd_pid" ] && kill -0 "$ctrd_pid" 2>/dev/null; then
        # Best effort: remove whatever a failed run left behind, through containerd itself.
        for id in $(ctr task ls -q 2>/dev/null); do
            ctr task kill -s SIGKILL "$id" >/dev/null 2>&1
            sleep 0.2
            ctr task delete --force "$id" >/dev/null 2>&1
        done
        for id in $(ctr container ls -q 2>/dev/null); do
            ctr container delete "$id" >/dev/null 2>&1
        done
        kill -TERM "$ctrd_pid" 2>/dev/null
        for _ in $(seq 50); do kill -0 "$ctrd_pid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$ctrd_pid" 2>/dev/null
        wait "$ctrd_pid" 2>/dev/null
    fi
    # Shims outlive containerd by design; ours are the ones started with our socket address.
    local pid
    for pid in $(grep -l -F -- "$sock" /proc/[0-9]*/cmdline 2>/dev/null | cut -d/ -f3); do
        [ "$pid" != $$ ] && kill -KILL "$pid" 2>/dev/null
    done
    # Snapshot and rootfs mounts under our tempdir, deepest first.
    findmnt -rn -o TARGET | grep -F -- "$tmp/" | sort -r | while read -r m; do umount -l "$m"; done
    rm -rf --one-file-system -- "$tmp"
    if [ "$rc" -ne 0 ] && [ -f "$tmp.log" ]; then
        echo "--- containerd log (last 40 lines):" >&2
        tail -n 40 "$tmp.log" >&2
    fi
    rm -f -- "$tmp.log"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- a private containerd -------------------------------------------------------------------
cat > "$tmp/config.toml" <<TOML
version = 2
root = "$tmp/root"
state = "$tmp/state"
disabled_plugins = ["io.containerd.grpc.v1.cri"]
[grpc]
  address = "$sock"
[ttrpc]
  address = "$sock.ttrpc"
[debug]
  address = "$tmp/debug.sock"
  level = "info"
TOML
# The log goes beside the tempdir so it survives for the failure report in cleanup.
containerd --config "$tmp/config.toml" >"$tmp.log" 2>&1 &
ctrd_pid=$!
for _ in $(seq 100); do
    ctr version >/dev/null 2>&1 && break
    kill -0 "$ctrd_pid" 2>/dev/null || fail "containerd exited at start"
    sleep 0.1
done
ctr version >/dev/null 2>&1 || fail "containerd did not answer on $sock within 10s"
info "containerd $ctrd_pid up on $sock"

# --- a busybox image, built by hand as an OCI image layout --------------------------------------
"$repo/scripts/make-rootfs.sh" "$tmp/rootfs"
oci=$tmp/oci
mkdir -p "$oci/blobs/sha256"
# put FILE -> blobs/sha256/<digest>; prints "<digest> <size>"
put() {
    local d s
    d=$(sha256sum "$1" | cut -d' ' -f1)
    s=$(stat -c %s "$1")
    mv -- "$1" "$oci/blobs/sha256/$d"
    echo "$d $s"
}
tar --numeric-owner --sort=name --exclude=./.berth-rootfs -C "$tmp/rootfs" -cf "$tmp/layer.tar" .
read -r layer_digest layer_size < <(put "$tmp/layer.tar")
jq -n --arg diff "sha256:$layer_digest" '{
    architecture: "amd64", os: "linux",
    config: {Env: ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
             Cmd: ["sh"], WorkingDir: "/"},
    rootfs: {type: "layers", diff_ids: [$diff]}
}' > "$tmp/config.json"
read -r config_digest config_size < <(put "$tmp/config.json")
jq -n --arg cd "sha256:$config_digest" --argjson cs "$config_size" \
      --arg ld "sha256:$layer_digest" --argjson ls "$layer_size" '{
    schemaVersion: 2,
    mediaType: "application/vnd.oci.image.manifest.v1+json",
    config: {mediaType: "application/vnd.oci.image.config.v1+json", digest: $cd, size: $cs},
    layers: [{mediaType: "application/vnd.oci.image.layer.v1.tar", digest: $ld, size: $ls}]
}' > "$tmp/manifest.json"
read -r manifest_digest manifest_size < <(put "$tmp/manifest.json")
jq -n --arg md "sha256:$manifest_digest" --argjson ms "$manifest_size" --arg name "$image" '{
    schemaVersion: 2,
    manifests: [{
        mediaType: "application/vnd.oci.image.manifest.v1+json", digest: $md, size: $ms,
        platform: {architecture: "amd64", os: "linux"},
        annotations: {"io.containerd.image.name": $name, "org.opencontainers.image.ref.name": "test"}
    }]
}' > "$oci/index.json"
echo '{"imageLayoutVersion":"1.0.0"}' > "$oci/oci-layout"
tar -C "$oci" -cf "$tmp/image.tar" .

ctr image import --platform linux/amd64 "$tmp/image.tar" >/dev/null || fail "ctr image import"
ctr image ls -q | grep -qxF "$image" || fail "image $image not listed after import: $(ctr image ls -q)"
info "imported $image"

run_opts=(--runc-binary "$BERTH" --runc-root "$tmp/runtime-root" --fifo-dir "$tmp/fifo")

# --- 1. foreground run, output through the shim ----------------------------------------------
out=$(timeout 60 "$ctr_bin" --address "$sock" --namespace "$ns" run --rm "${run_opts[@]}" \
    "$image" hello-fg echo hello 2>&1) || fail "ctr run --rm ... echo hello exited $?: $out"
[ "$out" = hello ] || fail "ctr run printed '$out', want 'hello'"
ctr container ls -q | grep -qx hello-fg && fail "container hello-fg left after --rm"
info "ctr run --rm echo hello: ok"

# --- 2. detached containers: kill, wait, delete ----------------------------------------------
task_status() { ctr task ls 2>/dev/null | awk -v id="$1" '$1 == id { print $3 }'; }
task_pid() { ctr task ls 2>/dev/null | awk -v id="$1" '$1 == id { print $2 }'; }

# detached_lifecycle ID KILL-ARGS...: run -d sleep 1000, check it runs, kill, delete, check gone.
detached_lifecycle() {
    local id=$1; shift
    local status pid comm
    timeout 60 "$ctr_bin" --address "$sock" --namespace "$ns" run -d "${run_opts[@]}" \
        "$image" "$id" sleep 1000 || fail "ctr run -d ... $id sleep 1000"
    status=$(task_status "$id")
    [ "$status" = RUNNING ] || fail "task $id status '$status' after run -d, want RUNNING"
    pid=$(task_pid "$id")
    { [ -n "$pid" ] && kill -0 "$pid"; } || fail "task $id reports pid '$pid', which is not alive"
    # `start` returns once the init is released, possibly before it has exec'd sleep.
    comm=
    for _ in $(seq 50); do
        comm=$(cat "/proc/$pid/comm" 2>/dev/null) || fail "pid $pid vanished"
        [ "$comm" = sleep ] && break
        sleep 0.1
    done
    [ "$comm" = sleep ] || fail "pid $pid is '$comm' after 5s, want sleep"
    "$BERTH" --root "$tmp/runtime-root/$ns" state "$id" >/dev/null ||
        fail "runtime has no state for $id under $tmp/runtime-root/$ns"
    info "detached $id running as host pid $pid"

    ctr task kill "$@" "$id" || fail "ctr task kill $* $id"
    for _ in $(seq 100); do
        status=$(task_status "$id")
        [ "$status" = STOPPED ] && break
        sleep 0.1
    done
    [ "$status" = STOPPED ] || fail "task $id status '$status' 10s after kill $*, want STOPPED"
    kill -0 "$pid" 2>/dev/null && fail "pid $pid still alive after kill $*"
    info "ctr task kill $* $id: stopped"

    ctr task delete "$id" >/dev/null || fail "ctr task delete $id"
    [ -z "$(task_status "$id")" ] || fail "task $id still listed after delete"
    ctr container delete "$id" || fail "ctr container delete $id"
    ctr container ls -q | grep -qx "$id" && fail "container $id still listed after delete"
    if "$BERTH" --root "$tmp/runtime-root/$ns" state "$id" >/dev/null 2>&1; then
        fail "runtime still has state for $id after delete"
    fi
    info "deleted $id"
}
detached_lifecycle sleeper -s SIGKILL          # runtime: kill sleeper 9
detached_lifecycle sleeper-all --all -s SIGKILL # runtime: kill --all sleeper-all 9
echo "containerd.sh: ok"
