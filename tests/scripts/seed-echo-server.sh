#!/usr/bin/env bash
# Seed 000 (the course's echo server: a server and a client container, a host "bridge" that
# setns()es into the client's IPC and the server's mount namespace, found through the
# containers' --pid-file) as the echo-server example (examples/echo-server), end to end against
# the runtime under test, then the seed's own --pid-file + setns shape once more. Two
# busybox containers and the host bridge run with `berth join --ipc <client> --mount <server>`.
# Lines typed into the client must come back as the server's echoes, in order; the bridge must
# really be in the client's IPC namespace (the queue is invisible from the host) and the
# server's mount namespace (the message file is the server's).
# Needs root, gcc + libc.a (build-essential), busybox-static, jq. Env: BERTH.
set -euo pipefail

here=$(cd "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
# shellcheck source=scripts/env.sh
. "$repo/scripts/env.sh"
# shellcheck source=tests/scripts/lib/work.sh
. "$here/lib/work.sh"

fail() { echo "FAIL: $*" >&2; exit 1; }
[ "$(id -u)" -eq 0 ] || fail "must run as root"
[ -x "$BERTH" ] || fail "runtime $BERTH not found (cargo build --release, or set BERTH)"
command -v gcc >/dev/null || fail "gcc not found (apt-get install build-essential)"

work=$(mktemp -d /tmp/berth-echo-test.XXXXXX)
trap 'remove_work "$work"' EXIT

lines=("hello" "through two namespaces" "  spaces and  symbols: \$HOME * ;")
printf '%s\n' "${lines[@]}" |
    WORK=$work/run ECHO_PREFIX=echo-test timeout 120 "$repo/examples/echo-server/run.sh" \
        > "$work/out" 2> "$work/err" ||
    { cat "$work/err" >&2; fail "run.sh failed"; }

mapfile -t echoes < <(grep '^echo: ' "$work/out")
[ "${#echoes[@]}" -eq "${#lines[@]}" ] ||
    { cat "$work/out" "$work/err" >&2; fail "${#echoes[@]} echoes for ${#lines[@]} lines"; }
for i in "${!lines[@]}"; do
    [ "${echoes[$i]}" = "echo: ${lines[$i]}" ] || fail "echo $i: got '${echoes[$i]}', want 'echo: ${lines[$i]}'"
done
grep -q '^server: waiting for messages' "$work/out" || fail "no server banner: $(cat "$work/out")"
grep -q 'bridge: client finished' "$work/run/bridge.out" || fail "bridge did not see the end: $(cat "$work/run/bridge.out")"
# The queue (key 0x45434830, listed in decimal) was in the client's IPC namespace only.
if awk 'NR > 1 && $1 == 1162037296 { found = 1 } END { exit !found }' /proc/sysvipc/msg; then
    fail "the queue is in the host's IPC namespace"
fi
# run.sh removed both containers.
[ -z "$("$BERTH" --root "$work/run/state" list -q 2>/dev/null || true)" ] || fail "containers left behind"

# The seed's bridge finds the server through `run --pid-file` and setns()es into its mount
# namespace by /proc/PID/ns/mnt: a file only the server's root has is read that way.
"$repo/scripts/make-rootfs.sh" "$work/rootfs" >/dev/null
mkdir -p "$work/srv"
"$BERTH" spec --bundle "$work/srv"
jq --arg root "$work/rootfs" '.root = {path: $root, readonly: false} | .process.terminal = false
    | .process.args = ["sh", "-c", "echo from-the-server > /tmp/message; exec sleep 1000"]' \
    "$work/srv/config.json" > "$work/srv/c" && mv "$work/srv/c" "$work/srv/config.json"
srv=seed0-$$
"$BERTH" --root "$work/state" run -d --pid-file "$work/server.pid" --bundle "$work/srv" "$srv" >/dev/null
trap '"$BERTH" --root "$work/state" delete --force "$srv" >/dev/null 2>&1; remove_work "$work"' EXIT
pid=$(cat "$work/server.pid")
for _ in $(seq 100); do [ -s "$work/rootfs/tmp/message" ] && break; sleep 0.05; done
got=$(nsenter --mount="/proc/$pid/ns/mnt" cat /tmp/message)
[ "$got" = from-the-server ] || fail "setns into the server's mount namespace read '$got'"
"$BERTH" --root "$work/state" delete --force "$srv"
echo "echo-server: ${#lines[@]} lines echoed through the bridge; --pid-file + setns(mnt) reach the server"
