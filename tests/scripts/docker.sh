#!/usr/bin/env bash
# Docker 20.10 (Debian's docker.io) runs containers through the runtime under test ($BERTH).
#
# Starts a private containerd (as containerd.sh) and a private dockerd on it:
#   dockerd --containerd SOCK --add-runtime berth=WRAPPER --data-root, --exec-root, --pidfile,
#   -H unix://SOCK and a daemon.json in the tempdir, storage driver overlay2,
#   --iptables=false --ip-forward=false --ip-masq=false (nothing changes the host's firewall or
#   sysctls; the default bridge docker0 still carries host <-> container traffic).
# The image is scripts/make-rootfs.sh's busybox tree, loaded with `docker import`: no network
# access. The runtime is a wrapper around $BERTH that records each call in
# $tmp/runtime-calls.log (shown on failure).
#
# Checks: run --rm (output, exit status, --network none), run -it (tty, window size, exit status);
#   run -d on the default bridge: the prestart hook Docker adds (libnetwork-setkey) ran, the
#   container has its address and serves the host; exec (output, exit status, the container's pid
#   namespace), exec -it; update --memory (limit on the host and inside); top; pause/unpause
#   (freezer state on the host); stop (SIGTERM reaches the process; a process ignoring it is
#   killed after the timeout); rm (runtime state and cgroup gone).
# Docker (through containerd's runc shim) then calls the runtime as: --root R --log F
# --log-format json plus create --bundle B --pid-file F [--console-socket S] ID; start ID;
# exec --process P --detach --pid-file F [--console-socket S] ID; update --resources - ID;
# ps --format json ID; pause ID; resume ID; kill ID SIGNUM; delete ID; delete --force ID.
#
# Stops dockerd and containerd by pid and their shims on every exit path; removes mounts under
# the tempdir and what dockerd creates outside it when it was not there before (docker0, the
# cgroup parent /docker, /run/docker).
# Env: BERTH (default <repo>/target/x86_64-unknown-linux-gnu/release/berth).
set -euo pipefail

here=$(cd "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
# shellcheck source=scripts/env.sh
. "$repo/scripts/env.sh"

fail() { echo "FAIL: $*" >&2; exit 1; }
info() { echo "--- $*" >&2; }

[ "$(id -u)" -eq 0 ] || fail "must run as root"
for tool in dockerd docker containerd containerd-shim-runc-v2 script ip jq; do
    command -v "$tool" >/dev/null || fail "$tool not installed (apt-get install docker.io containerd util-linux iproute2 jq)"
done
[ -x "$BERTH" ] || fail "runtime $BERTH not found (cargo build --release, or set BERTH)"

tmp=$(mktemp -d /tmp/berth-docker.XXXXXX)
calls=$tmp/runtime-calls.log
ctrd_sock=$tmp/containerd.sock
image=berth-busybox:test
ctrd_pid=
dockerd_pid=

# What dockerd creates outside the tempdir, so cleanup removes only what this test made.
cgroup_parents=()
for d in /sys/fs/cgroup/*/; do
    [ -e "$d/cgroup.procs" ] && [ ! -e "$d/docker" ] && cgroup_parents+=("$d/docker")
done
had_bridge=0; ip link show docker0 >/dev/null 2>&1 && had_bridge=1
had_run_docker=0; [ -e /run/docker ] && had_run_docker=1

export DOCKER_HOST=unix://$tmp/docker.sock DOCKER_CONFIG=$tmp/docker-cli

# stop PID NAME: SIGTERM, up to 10 s, then SIGKILL.
stop() {
    local pid=$1
    [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 0
    kill -TERM "$pid" 2>/dev/null
    for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
}

cleanup() {
    local rc=$?
    set +e
    if [ -n "$dockerd_pid" ] && kill -0 "$dockerd_pid" 2>/dev/null; then
        docker ps -aq 2>/dev/null | xargs -r docker rm --force >/dev/null 2>&1
    fi
    stop "$dockerd_pid"
    stop "$ctrd_pid"
    # Shims outlive containerd by design; ours name our containerd socket on their command line.
    local pid
    for pid in $(grep -l -F -- "$ctrd_sock" /proc/[0-9]*/cmdline 2>/dev/null | cut -d/ -f3); do
        [ "$pid" != $$ ] && kill -KILL "$pid" 2>/dev/null
    done
    findmnt -rn -o TARGET | grep -F -- "$tmp/" | sort -r | while read -r m; do umount -l "$m"; done
    local d
    for d in "${cgroup_parents[@]}"; do
        [ -d "$d" ] || continue
        find "$d" -mindepth 1 -depth -type d -exec rmdir {} + 2>/dev/null
        rmdir "$d" 2>/dev/null
    done
    [ "$had_bridge" -eq 1 ] || ip link del docker0 2>/dev/null
    [ "$had_run_docker" -eq 1 ] || rm -rf -- /run/docker
    if [ "$rc" -ne 0 ]; then
        if [ -s "$calls" ]; then
            echo "--- runtime calls (last 30):" >&2
            tail -n 30 "$calls" >&2
        fi
        echo "--- dockerd log (last 30 lines):" >&2
        tail -n 30 "$tmp/dockerd.log" >&2
    fi
    rm -rf --one-file-system -- "$tmp"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- the runtime wrapper, a private containerd and dockerd -------------------------------------
cat > "$tmp/berth" <<EOF
#!/bin/sh
printf '%s\n' "\$*" >> '$calls'
exec '$BERTH' "\$@"
EOF
chmod 755 "$tmp/berth"

cat > "$tmp/containerd.toml" <<TOML
version = 2
root = "$tmp/containerd-root"
state = "$tmp/containerd-state"
disabled_plugins = ["io.containerd.grpc.v1.cri"]
[grpc]
  address = "$ctrd_sock"
[ttrpc]
  address = "$ctrd_sock.ttrpc"
[debug]
  address = "$tmp/containerd-debug.sock"
  level = "info"
TOML
containerd --config "$tmp/containerd.toml" >"$tmp/containerd.log" 2>&1 &
ctrd_pid=$!
for _ in $(seq 100); do
    [ -S "$ctrd_sock" ] && break
    kill -0 "$ctrd_pid" 2>/dev/null || fail "containerd exited at start: $(tail -5 "$tmp/containerd.log")"
    sleep 0.1
done
[ -S "$ctrd_sock" ] || fail "containerd did not listen on $ctrd_sock within 10s"

# The trust key would otherwise go to /etc/docker/key.json.
printf '{"deprecated-key-path": "%s"}\n' "$tmp/key.json" > "$tmp/daemon.json"
dockerd --config-file "$tmp/daemon.json" --data-root "$tmp/data" --exec-root "$tmp/exec" \
    --pidfile "$tmp/dockerd.pid" -H "$DOCKER_HOST" --containerd "$ctrd_sock" \
    --add-runtime "berth=$tmp/berth" --storage-driver overlay2 \
    --iptables=false --ip-forward=false --ip-masq=false >"$tmp/dockerd.log" 2>&1 &
dockerd_pid=$!
for _ in $(seq 200); do
    docker version >/dev/null 2>&1 && break
    kill -0 "$dockerd_pid" 2>/dev/null || fail "dockerd exited at start"
    sleep 0.1
done
docker version >/dev/null 2>&1 || fail "dockerd did not answer on $DOCKER_HOST within 20s"
info "containerd $ctrd_pid and dockerd $dockerd_pid up"

"$repo/scripts/make-rootfs.sh" "$tmp/rootfs"
tar --numeric-owner --exclude=./.berth-rootfs -C "$tmp/rootfs" -cf - . |
    docker import - "$image" >/dev/null || fail "docker import"
info "imported $image"

# shellcheck source=tests/scripts/lib/clients.sh
. "$repo/tests/scripts/lib/clients.sh"
# cg_dir PID CONTROLLER: the v1 cgroup directory of PID for CONTROLLER.
cg_dir() { echo "/sys/fs/cgroup/$2$(awk -F: -v c="$2" '$2 ~ "(^|,)" c "(,|$)" { print $3 }' "/proc/$1/cgroup")"; }
run=(docker run --runtime berth)
docker_cmd="DOCKER_HOST=$DOCKER_HOST DOCKER_CONFIG=$DOCKER_CONFIG docker"

# --- 1. foreground run ----------------------------------------------------------------------------
out=$("${run[@]}" --rm --network none "$image" echo hello) || fail "docker run echo hello: exit $?"
[ "$out" = hello ] || fail "docker run printed '$out', want 'hello'"
id=$(grep -oE '(^| )create .* [0-9a-f]{64}$' "$calls" | tail -n 1 | awk '{print $NF}')
[ -n "$id" ] || fail "docker did not call the runtime's create"
called start "$id"; called delete "$id"
rc=0; "${run[@]}" --rm --network none "$image" sh -c 'exit 3' || rc=$?
[ "$rc" -eq 3 ] || fail "docker run sh -c 'exit 3' exited $rc"
links=$("${run[@]}" --rm --network none "$image" sh -c 'ls /sys/class/net | wc -l')
[ "$links" -eq 1 ] || fail "--network none container has $links interfaces, want only lo"
info "docker run: output, exit status, --network none: ok"

# The client sets the window size only after start (with runc too): the container reports once
# it has come (tty_report).
rc=0
out=$(in_tty "$docker_cmd run --runtime berth -it --rm --network none $image \
              sh -c '$tty_report; exit 5'") || rc=$?
[ "$rc" -eq 5 ] || fail "docker run -it exited $rc, want 5 (output: $out)"
grep -qx '/dev/pts/[0-9]*' <<<"$out" || fail "docker run -it: no pty inside: $out"
grep -qx '30 100' <<<"$out" || fail "docker run -it: window size not passed: $out"
grep -qE '(^| )create .*--console-socket ' "$calls" || fail "run -it did not pass a console socket"
info "docker run -it: ok"

# --- 2. detached on the default bridge: Docker's prestart hook --------------------------------------
"${run[@]}" -d --name d1 "$image" \
    sh -c 'mkdir /www && echo berth-web > /www/index.html && exec httpd -f -p 8080 -h /www' \
    >/dev/null || fail "docker run -d d1"
did=$(docker inspect -f '{{.Id}}' d1)
[ "$(docker inspect -f '{{.State.Status}}' d1)" = running ] || fail "d1 not running after run -d"
pid=$(docker inspect -f '{{.State.Pid}}' d1)
bundle=$tmp/containerd-state/io.containerd.runtime.v2.task/moby/$did
jq -e '[.hooks.prestart[]?.args[]?] | index("libnetwork-setkey")' "$bundle/config.json" >/dev/null ||
    fail "d1's config.json has no libnetwork-setkey prestart hook"
addr=$(docker inspect -f '{{.NetworkSettings.IPAddress}}' d1)
[ -n "$addr" ] || fail "d1 has no address on the default bridge"
page=$(http_get "$addr" 8080) || true
[ "$page" = berth-web ] || fail "host could not fetch http://$addr:8080/ from d1 (got '$page')"
info "docker run -d: prestart hook ran, d1 at $addr served the host: ok"

# --- 3. exec ---------------------------------------------------------------------------------------
rc=0; out=$(docker exec d1 sh -c 'echo in-$(cat /proc/1/comm); exit 4') || rc=$?
[ "$rc" -eq 4 ] || fail "docker exec exited $rc, want 4"
[ "$out" = in-httpd ] || fail "docker exec printed '$out', want in-httpd (pid namespace)"
called "exec .*--detach" "$did"
rc=0; out=$(in_tty "$docker_cmd exec -it d1 sh -c '$tty_report; exit 6'") || rc=$?
[ "$rc" -eq 6 ] || fail "docker exec -it exited $rc, want 6 (output: $out)"
grep -qx '/dev/pts/[0-9]*' <<<"$out" || fail "docker exec -it: no pty inside: $out"
grep -qx '30 100' <<<"$out" || fail "docker exec -it: window size not passed: $out"
called "exec .*--console-socket" "$did"
# The client's default seccomp profile is in force, without no_new_privs (setuid works, as
# with runc).
out=$(docker exec d1 grep -E '^(Seccomp|NoNewPrivs):' /proc/self/status | tr -d '\t')
[ "$out" = $'NoNewPrivs:0\nSeccomp:2' ] || fail "exec in d1: want seccomp on, no_new_privs off, got: $out"
info "docker exec, exec -it: ok"

# --- 4. update --memory, top, pause, unpause ------------------------------------------------------
docker update --memory 64m --memory-swap 64m d1 >/dev/null || fail "docker update --memory 64m"
called "update --resources -" "$did"
limit=$(cat "$(cg_dir "$pid" memory)/memory.limit_in_bytes")
[ "$limit" -eq $((64 << 20)) ] || fail "host memory.limit_in_bytes of d1 is $limit after update, want 64 MiB"
inside=$(docker exec d1 cat /sys/fs/cgroup/memory/memory.limit_in_bytes)
[ "$inside" -eq $((64 << 20)) ] || fail "memory limit inside d1 is $inside after update, want 64 MiB"
info "docker update --memory: ok"

docker top d1 | grep -q 'httpd -f -p 8080' || fail "docker top d1 does not list httpd"
called "ps --format json" "$did"
freezer=$(cg_dir "$pid" freezer)/freezer.state
docker pause d1 >/dev/null || fail "docker pause"
[ "$(docker inspect -f '{{.State.Status}}' d1)" = paused ] || fail "d1 not paused"
[ "$(cat "$freezer")" = FROZEN ] || fail "d1's freezer not FROZEN"
called pause "$did"
docker unpause d1 >/dev/null || fail "docker unpause"
[ "$(docker inspect -f '{{.State.Status}}' d1)" = running ] || fail "d1 not running after unpause"
[ "$(cat "$freezer")" = THAWED ] || fail "d1's freezer not THAWED"
called resume "$did"
info "docker top, pause, unpause: ok"

# --- 5. stop, rm -----------------------------------------------------------------------------------
"${run[@]}" -d --network none --name t1 "$image" \
    sh -c 'trap "exit 7" TERM; while :; do sleep 0.1; done' >/dev/null || fail "docker run -d t1"
wait_catches "$(docker inspect -f '{{.State.Pid}}' t1)" 15 || fail "t1's shell never set its TERM trap"
start=$SECONDS
docker stop -t 20 t1 >/dev/null || fail "docker stop t1"
[ $((SECONDS - start)) -lt 10 ] || fail "docker stop took $((SECONDS - start))s: SIGTERM was not delivered"
code=$(docker inspect -f '{{.State.ExitCode}}' t1)
[ "$code" -eq 7 ] || fail "t1 exited $code after stop, want 7 (its TERM trap)"

# httpd as pid 1 ignores SIGTERM: stop must fall back to SIGKILL after its timeout.
mem_cg=$(cg_dir "$pid" memory)
docker stop -t 1 d1 >/dev/null || fail "docker stop d1"
code=$(docker inspect -f '{{.State.ExitCode}}' d1)
[ "$code" -eq 137 ] || fail "d1 exited $code after stop -t 1, want 137 (SIGKILL)"
kill -0 "$pid" 2>/dev/null && fail "d1's pid $pid alive after docker stop"
called kill "$did 9"
docker rm d1 t1 >/dev/null || fail "docker rm"
[ -z "$(docker ps -aq)" ] || fail "containers left after rm: $(docker ps -a)"
state_root=$(grep -oE -- "--root [^ ]+ .*(^| )create .*$did\$" "$calls" | head -n 1 | awk '{print $2}')
[ -n "$state_root" ] || fail "docker's create call for d1 had no --root"
if "$BERTH" --root "$state_root" state "$did" >/dev/null 2>&1; then
    fail "berth still has state for d1 under $state_root after rm"
fi
[ ! -e "$mem_cg" ] || fail "d1's cgroup $mem_cg left after rm"
info "docker stop, rm: ok"

echo "docker.sh: ok"
