#!/usr/bin/env bash
# run.sh — the two-container echo server with a bridge (see README.md).
#
# Builds the static programs, a busybox bundle for the server and one for the client, starts
# both containers detached, and joins them with the host's bridge:
#
#     berth join --ipc echo-client --mount echo-server -- ./bridge
#
# Every line on this script's stdin is typed into the client; the server's echoes ("echo: ...")
# are printed on stdout as they come. At end of input (Ctrl-D) the client and the bridge stop,
# the script stops the server and removes both containers.
#
# Needs root, gcc with libc.a (Debian: build-essential), busybox-static and jq.
# Env: BERTH (runtime; default <repo>/target/x86_64-unknown-linux-gnu/release/berth), WORK (working directory, kept;
# default a temporary one that is removed), ECHO_PREFIX (container ID prefix, default "echo").
set -euo pipefail

here=$(cd "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
# shellcheck source=scripts/env.sh
. "$repo/scripts/env.sh"

die() { echo "run.sh: $*" >&2; exit 1; }
[ "$(id -u)" -eq 0 ] || die "must run as root (containers and setns)"
[ -x "$BERTH" ] || die "runtime $BERTH not found (cargo build --release, or set BERTH)"
command -v jq >/dev/null || die "jq not found (apt-get install jq)"

make -s -C "$here" >&2 || die "building the programs failed (apt-get install build-essential)"

if [ -n "${WORK:-}" ]; then
    mkdir -p -- "$WORK"
    work=$(cd -- "$WORK" && pwd)
    keep=1
else
    work=$(mktemp -d /tmp/berth-echo.XXXXXX)
    keep=0
fi
state=$work/state
prefix=${ECHO_PREFIX:-echo}
server=$prefix-server
client=$prefix-client
berth() { "$BERTH" --root "$state" "$@"; }

tail_pid=
bridge_pid=
cleanup() {
    exec 3>&- 2>/dev/null || true
    [ -z "$bridge_pid" ] || kill "$bridge_pid" 2>/dev/null || true
    berth delete --force "$client" >/dev/null 2>&1 || true
    berth delete --force "$server" >/dev/null 2>&1 || true
    [ -z "$tail_pid" ] || kill "$tail_pid" 2>/dev/null || true
    [ "$keep" -eq 1 ] || rm -rf --one-file-system -- "$work"
}
trap cleanup EXIT

# bundle NAME PROGRAM: a busybox rootfs with PROGRAM at /, running it as the init, and a tmpfs
# at /shared: the message file exists only in that container's mount namespace.
bundle() {
    local dir=$work/$1 program=$2
    "$repo/scripts/make-rootfs.sh" "$dir/rootfs"
    install -m 755 "$here/$program" "$dir/rootfs/$program"
    mkdir -p "$dir/rootfs/shared"
    rm -f -- "$dir/config.json"
    "$BERTH" spec --bundle "$dir"
    jq --arg prog "/$program" --arg host "$1" \
        '.process.terminal = false | .process.args = [$prog] | .root.path = "rootfs"
         | .hostname = $host
         | .mounts += [{"destination": "/shared", "type": "tmpfs", "source": "tmpfs",
                        "options": ["nosuid", "nodev", "mode=755", "size=1m"]}]' \
        "$dir/config.json" > "$dir/config.json.tmp"
    mv -- "$dir/config.json.tmp" "$dir/config.json"
}
bundle server server
bundle client client

# 1. The server blocks waiting for /shared/message; its stdout is the echo log.
: > "$work/server.out"
berth run -d --bundle "$work/server" "$server" > "$work/server.out" 2>&1
tail -n +1 -f "$work/server.out" &
tail_pid=$!

# 2. The client blocks reading typed lines: its stdin is a fifo this script writes to. Opening
#    the fifo read-write first keeps the client's open from blocking.
rm -f -- "$work/client.in"
mkfifo "$work/client.in"
exec 3<>"$work/client.in"
# Nothing but the script may keep a write end (fd 3), or the client never sees end of input.
berth run -d --bundle "$work/client" "$client" < "$work/client.in" > "$work/client.out" 2>&1 3>&-

# 3. The bridge: a host program in the client's IPC namespace and the server's mount namespace.
berth join --ipc "$client" --mount "$server" -- "$here/bridge" 2> "$work/bridge.out" 3>&- &
bridge_pid=$!
# The queue lives only as long as its IPC namespace has a member: the bridge must be in it
# before the client can finish.
for _ in $(seq 100); do
    grep -q '^bridge: relaying' "$work/bridge.out" 2>/dev/null && break
    kill -0 "$bridge_pid" 2>/dev/null || { cat "$work/bridge.out" >&2; die "the bridge failed to start"; }
    sleep 0.1
done
grep -q '^bridge: relaying' "$work/bridge.out" || die "the bridge did not start"

# 4. Type: every line of our stdin goes to the client; end of input ends the client.
typed=0
while IFS= read -r line || [ -n "$line" ]; do
    printf '%s\n' "$line" >&3
    typed=$((typed + 1))
done
exec 3>&-

# The bridge stops after the client's end message, and the server has echoed every line.
for _ in $(seq 300); do
    kill -0 "$bridge_pid" 2>/dev/null || break
    sleep 0.1
done
if kill -0 "$bridge_pid" 2>/dev/null; then
    cat "$work/bridge.out" "$work/client.out" >&2
    die "the bridge did not finish"
fi
wait "$bridge_pid" || { cat "$work/bridge.out" "$work/client.out" >&2; die "the bridge failed"; }
bridge_pid=
for _ in $(seq 100); do
    [ "$(grep -c '^echo: ' "$work/server.out" || true)" -lt "$typed" ] || break
    sleep 0.1
done
[ "$(grep -c '^echo: ' "$work/server.out" || true)" -ge "$typed" ] || die "the server did not echo every line"
# Let tail print the last lines before it is stopped.
sleep 0.3
