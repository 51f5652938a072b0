#!/usr/bin/env bash
# podman 4.3 runs containers through the runtime under test ($BERTH).
#
# Private podman state under a tempdir (--root, --runroot, --tmpdir, --network-config-dir, a
# private containers.conf via CONTAINERS_CONF), cgroup manager cgroupfs, events in a file, overlay
# storage. The image is scripts/make-rootfs.sh's busybox tree, loaded with `podman import`: no
# network access. podman's runtime is a small wrapper around $BERTH that records each call in
# $tmp/runtime-calls.log (shown on failure) and pins berth's --root to the tempdir: podman's
# `container cleanup` (started by conmon when a container exits) drops --runtime-flag, so a
# --root given that way would not reach its `delete`.
#
# Checks, with --network none unless said otherwise:
#   run --rm (output, exit status), run -it (tty, window size, exit status); --read-only and a
#   tmpfs with tmpcopyup (runc's extension: the tmpfs starts with the image's files);
#   run -d --memory 64m: running, the memory cgroup limit seen on the host and inside;
#   exec (output, exit status, the container's pid namespace), exec -t (tty, window size);
#   top; pause/unpause (freezer state on the host); stop (SIGTERM reaches the process, its exit
#   status is kept); kill; rm (container, runtime state and cgroup gone);
#   podman's default bridge (CNI, containernetworking-plugins): the container gets an address on
#   cni-podman0 and the host fetches a page from a server inside it.
# podman then calls the runtime as: create --bundle B --pid-file F [--console-socket S] ID;
# start ID; exec --pid-file F --process P --detach [--tty --console-socket S] ID; pause ID;
# resume ID; kill ID SIGNUM; delete --force ID.
#
# Cleans up on every exit path: containers (through podman), conmon processes and mounts under
# the tempdir, and what podman creates outside it when it was not there before (the cgroup parent
# libpod_parent, CNI's bridge cni-podman0, its iptables chains and /var/lib/cni).
# Env: BERTH (default <repo>/target/x86_64-unknown-linux-gnu/release/berth).
set -euo pipefail

here=$(cd "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
# shellcheck source=scripts/env.sh
. "$repo/scripts/env.sh"
# shellcheck source=scripts/podman-private.sh
. "$repo/scripts/podman-private.sh"

fail() { echo "FAIL: $*" >&2; exit 1; }
info() { echo "--- $*" >&2; }

[ "$(id -u)" -eq 0 ] || fail "must run as root"
for tool in podman conmon script iptables ip; do
    command -v "$tool" >/dev/null || fail "$tool not installed (apt-get install podman util-linux iptables iproute2)"
done
[ -x /usr/lib/cni/bridge ] || fail "CNI plugins missing (apt-get install containernetworking-plugins)"
[ -x "$BERTH" ] || fail "runtime $BERTH not found (cargo build --release, or set BERTH)"
[ -x /bin/busybox ] || fail "/bin/busybox missing (apt-get install busybox-static)"

tmp=$(mktemp -d /tmp/berth-podman.XXXXXX)
calls=$tmp/runtime-calls.log
image=localhost/berth-busybox:test

# What podman creates outside the tempdir, so cleanup removes only what this test made.
podman_private_record

podman_flags=(--root "$tmp/root" --runroot "$tmp/runroot" --tmpdir "$tmp/libpod-tmp"
              --storage-driver overlay --cgroup-manager cgroupfs --events-backend file
              --network-config-dir "$tmp/cni" --runtime "$tmp/berth")
podman() { CONTAINERS_CONF=$tmp/containers.conf command podman "${podman_flags[@]}" "$@"; }

cleanup() {
    local rc=$?
    set +e
    podman rm --all --force --time 0 >/dev/null 2>&1
    podman_private_restore "$tmp"
    if [ "$rc" -ne 0 ] && [ -s "$calls" ]; then
        echo "--- runtime calls (last 30):" >&2
        tail -n 30 "$calls" >&2
    fi
    rm -rf --one-file-system -- "$tmp"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- private configuration and the runtime wrapper --------------------------------------------
cat > "$tmp/berth" <<EOF
#!/bin/sh
printf '%s\n' "\$*" >> '$calls'
exec '$BERTH' --root '$tmp/berth-state' "\$@"
EOF
chmod 755 "$tmp/berth"
# podman's default nofile/nproc limits exceed this host's hard RLIMIT_NOFILE (20000).
cat > "$tmp/containers.conf" <<EOF
[containers]
default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]
[network]
network_backend = "cni"
EOF

# --- a busybox image --------------------------------------------------------------------------
"$repo/scripts/make-rootfs.sh" "$tmp/rootfs"
tar --numeric-owner --exclude=./.berth-rootfs -C "$tmp/rootfs" -cf "$tmp/rootfs.tar" .
podman import "$tmp/rootfs.tar" "$image" >/dev/null 2>&1 || fail "podman import"
podman image exists "$image" || fail "image $image missing after import"
info "imported $image"

# shellcheck source=tests/scripts/lib/clients.sh
. "$repo/tests/scripts/lib/clients.sh"
pod_cmd="CONTAINERS_CONF=$tmp/containers.conf podman ${podman_flags[*]}"
none=(--network none)

# --- 1. foreground run --------------------------------------------------------------------------
out=$(podman run --rm "${none[@]}" --name fg "$image" echo hello) || fail "podman run echo hello: exit $?"
[ "$out" = hello ] || fail "podman run printed '$out', want 'hello'"
id=$(grep -oE '^create .* [0-9a-f]{64}$' "$calls" | tail -n 1 | awk '{print $NF}')
[ -n "$id" ] || fail "podman did not call the runtime's create"
called start "$id"; called "delete --force" "$id"
rc=0; podman run --rm "${none[@]}" "$image" sh -c 'exit 3' || rc=$?
[ "$rc" -eq 3 ] || fail "podman run sh -c 'exit 3' exited $rc"
links=$(podman run --rm "${none[@]}" "$image" sh -c 'ls /sys/class/net | wc -l')
[ "$links" -eq 1 ] || fail "--network none container has $links interfaces, want only lo"
info "podman run: output, exit status, --network none: ok"

# --read-only puts tmpfs mounts with runc's tmpcopyup extension on /tmp, /var/tmp and /run.
out=$(podman run --rm "${none[@]}" --read-only "$image" \
      sh -c 'touch /x 2>/dev/null && echo root-writable; touch /tmp/y && echo tmp-writable') ||
    fail "podman run --read-only: exit $?"
[ "$out" = tmp-writable ] || fail "podman run --read-only printed '$out', want only tmp-writable"
# tmpcopyup: the tmpfs starts with what the image had there.
out=$(podman run --rm "${none[@]}" --mount type=tmpfs,destination=/etc,tmpcopyup "$image" \
      sh -c 'grep -c ^berth: /etc/passwd; grep " /etc " /proc/mounts | cut -d" " -f3')
[ "$out" = $'1\ntmpfs' ] || fail "tmpfs /etc with tmpcopyup: got '$out', want the image's passwd on tmpfs"
info "podman run --read-only, tmpfs with tmpcopyup: ok"

# podman attaches to the terminal after start and sets the window size only then (no
# consoleSize): the container reports once the size has come (tty_report).
rc=0
out=$(in_tty "$pod_cmd run -it --rm ${none[*]} $image sh -c '$tty_report; exit 5'") ||
    rc=$?
[ "$rc" -eq 5 ] || fail "podman run -it exited $rc, want 5 (output: $out)"
grep -qx '/dev/pts/[0-9]*' <<<"$out" || fail "podman run -it: no pty inside: $out"
grep -qx '30 100' <<<"$out" || fail "podman run -it: window size not passed: $out"
grep -qE '^create .*--console-socket ' "$calls" || fail "run -it did not pass a console socket"
info "podman run -it: ok"

# --- 2. detached container with a memory limit --------------------------------------------------
podman run -d "${none[@]}" --name s1 --memory 64m "$image" sleep 1000 >/dev/null || fail "podman run -d"
[ "$(podman inspect -f '{{.State.Status}}' s1)" = running ] || fail "s1 not running after run -d"
pid=$(podman inspect -f '{{.State.Pid}}' s1)
[ "$(cat "/proc/$pid/comm")" = sleep ] || fail "s1's pid $pid is not sleep"
sid=$(podman inspect -f '{{.Id}}' s1)
"$BERTH" --root "$tmp/berth-state" state "$sid" >/dev/null || fail "berth has no state for s1"
mem_cg=$(awk -F: '$2 ~ /(^|,)memory(,|$)/ { print $3 }' "/proc/$pid/cgroup")
limit=$(cat "/sys/fs/cgroup/memory$mem_cg/memory.limit_in_bytes")
[ "$limit" -eq $((64 << 20)) ] || fail "host memory.limit_in_bytes of s1 is $limit, want 64 MiB"
inside=$(podman exec s1 cat /sys/fs/cgroup/memory/memory.limit_in_bytes)
[ "$inside" -eq $((64 << 20)) ] || fail "memory limit inside s1 is $inside, want 64 MiB"
info "podman run -d --memory 64m: running as host pid $pid, limit holds"

# --- 3. exec --------------------------------------------------------------------------------------
rc=0; out=$(podman exec s1 sh -c 'echo in-$(cat /proc/1/comm); exit 4') || rc=$?
[ "$rc" -eq 4 ] || fail "podman exec exited $rc, want 4"
[ "$out" = in-sleep ] || fail "podman exec printed '$out', want 'in-sleep' (pid namespace)"
called "exec .*--detach" "$sid"
# podman 4.3 passes no consoleSize: it sets the window size only after the exec started.
rc=0; out=$(in_tty "$pod_cmd exec -it s1 sh -c '$tty_report; exit 6'") || rc=$?
[ "$rc" -eq 6 ] || fail "podman exec -it exited $rc, want 6 (output: $out)"
grep -qx '/dev/pts/[0-9]*' <<<"$out" || fail "podman exec -it: no pty inside: $out"
grep -qx '30 100' <<<"$out" || fail "podman exec -it: window size not passed: $out"
called "exec .*--tty --console-socket" "$sid"
# The client's default seccomp profile is in force, without no_new_privs (setuid works, as
# with runc).
out=$(podman exec s1 grep -E '^(Seccomp|NoNewPrivs):' /proc/self/status | tr -d '\t')
[ "$out" = $'NoNewPrivs:0\nSeccomp:2' ] || fail "exec in s1: want seccomp on, no_new_privs off, got: $out"
info "podman exec, exec -it: ok"

# --- 4. top, pause, unpause -----------------------------------------------------------------------
podman top s1 | grep -q 'sleep 1000' || fail "podman top s1 does not list sleep 1000"
frz_cg=$(awk -F: '$2 ~ /(^|,)freezer(,|$)/ { print $3 }' "/proc/$pid/cgroup")
podman pause s1 >/dev/null || fail "podman pause"
[ "$(podman inspect -f '{{.State.Status}}' s1)" = paused ] || fail "s1 not paused"
[ "$(cat "/sys/fs/cgroup/freezer$frz_cg/freezer.state")" = FROZEN ] || fail "s1's freezer not FROZEN"
called pause "$sid"
podman unpause s1 >/dev/null || fail "podman unpause"
[ "$(podman inspect -f '{{.State.Status}}' s1)" = running ] || fail "s1 not running after unpause"
[ "$(cat "/sys/fs/cgroup/freezer$frz_cg/freezer.state")" = THAWED ] || fail "s1's freezer not THAWED"
called resume "$sid"
info "podman top, pause, unpause: ok"

# --- 5. stop, kill, rm ------------------------------------------------------------------------------
podman run -d "${none[@]}" --name t1 "$image" \
    sh -c 'trap "exit 7" TERM; while :; do sleep 0.1; done' >/dev/null || fail "podman run -d t1"
wait_catches "$(podman inspect -f '{{.State.Pid}}' t1)" 15 || fail "t1's shell never set its TERM trap"
start=$SECONDS
podman stop -t 20 t1 >/dev/null || fail "podman stop t1"
[ $((SECONDS - start)) -lt 10 ] || fail "podman stop took $((SECONDS - start))s: SIGTERM was not delivered"
code=$(podman inspect -f '{{.State.ExitCode}}' t1)
[ "$code" -eq 7 ] || fail "t1 exited $code after stop, want 7 (its TERM trap)"
info "podman stop: ok"

podman kill s1 >/dev/null || fail "podman kill s1"
podman wait s1 >/dev/null || true
code=$(podman inspect -f '{{.State.ExitCode}}' s1)
[ "$code" -eq 137 ] || fail "s1 exited $code after kill, want 137"
kill -0 "$pid" 2>/dev/null && fail "s1's pid $pid alive after podman kill"
called "kill" "$sid 9"
podman rm s1 t1 >/dev/null || fail "podman rm"
[ -z "$(podman ps -aq)" ] || fail "containers left after rm: $(podman ps -a)"
if "$BERTH" --root "$tmp/berth-state" state "$sid" >/dev/null 2>&1; then
    fail "berth still has state for s1 after rm"
fi
[ ! -e "/sys/fs/cgroup/memory$mem_cg" ] || fail "s1's cgroup $mem_cg left after rm"
info "podman kill, rm: ok"

# --- 6. podman's default bridge (CNI) ------------------------------------------------------------
podman run -d --name web "$image" \
    sh -c 'mkdir /www && echo berth-web > /www/index.html && exec httpd -f -p 8080 -h /www' \
    >/dev/null || fail "podman run -d on the default network"
addr=$(podman inspect -f '{{.NetworkSettings.IPAddress}}' web)
[ -n "$addr" ] || fail "container on the default network has no address"
wid=$(podman inspect -f '{{.Id}}' web)
grep -qE '"path": *"/run/netns/' "$tmp/root/overlay-containers/$wid/userdata/config.json" ||
    fail "podman did not hand the runtime a network namespace path"
page=$(http_get "$addr" 8080) || true
[ "$page" = berth-web ] || fail "host could not fetch http://$addr:8080/ from the container (got '$page')"
podman rm --force --time 0 web >/dev/null || fail "podman rm -f web"
info "podman default bridge: container at $addr served the host: ok"

echo "podman.sh: ok"
