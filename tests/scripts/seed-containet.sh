#!/usr/bin/env bash
# Seed 004 (containet: containet the switch, containode the member, mocker the image puller)
# walked through with berth's forms:
#   rm /tmp/containet.sock; containet -s /tmp/containet.sock
#                        ->  berth switch --socket SOCK            (in the background)
#   containode -4 10.0.0.2/24 -s SOCK /bin/sh
#                        ->  berth run -d --net switch:SOCK --ip 10.0.0.2/24 IMAGE sh
#   containode -s SOCK /bin/sh, "code in the container can still assign any address it wants"
#                        ->  berth run -d --net switch:SOCK --cap-drop ALL --cap-add NET_ADMIN
#                            IMAGE sh, then `ip addr add 10.0.0.1/24 dev eth0` inside
#   ping 10.0.0.2        ->  from each member to the other, through the switch (its log shows
#                            both joining)
#   -i identity          ->  --name (without it, an 11-character base62 ID, as containode)
#   -t path/to/top       ->  berth run --upper DIR, when `berth run --help` lists it
#   mocker (pulls images) -> berth image pull from a local registry (Debian's docker-registry,
#                            filled by skopeo), when both are installed; else an imported image
# berth only (people face); needs root, busybox-static, /dev/net/tun. A few seconds.
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
[ -c /dev/net/tun ] || { echo "skipped: /dev/net/tun missing"; exit 0; }

work=$(mktemp -d /tmp/berth-seed-containet.XXXXXX)
b() { "$BERTH" --root "$work/state" --image-root "$work/images" "$@"; }
pids=()
cleanup() {
    set +e
    for id in $(b list -q 2>/dev/null); do b delete --force "$id" >/dev/null 2>&1; done
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
    remove_work "$work"
}
trap cleanup EXIT
b image ls >/dev/null 2>&1 || { echo "skipped: $BERTH has no people face (image commands)"; exit 0; }

"$repo/scripts/make-rootfs.sh" "$work/rootfs" >/dev/null
tar -C "$work/rootfs" -cf "$work/busybox.tar" .

# mocker's part: the image comes from a registry when one can be run here.
image=busybox
if command -v docker-registry >/dev/null && command -v skopeo >/dev/null; then
    # A port nothing listens on yet.
    port=$((30000 + RANDOM % 30000))
    while (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; do port=$((30000 + RANDOM % 30000)); done
    printf 'version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: %s\nhttp:\n  addr: 127.0.0.1:%s\n' \
        "$work/registry" "$port" > "$work/registry.yml"
    docker-registry serve "$work/registry.yml" >/dev/null 2>&1 &
    pids+=($!)
    for _ in $(seq 200); do (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.05; done
    image=127.0.0.1:$port/containet/busybox:1
    skopeo copy -q --dest-tls-verify=false "tarball:$work/busybox.tar" "docker://$image"
    b image pull -q --insecure "$image" >/dev/null 2>&1 || fail "image pull $image"
else
    echo "skipped: the mocker step (docker-registry or skopeo missing); the image is imported"
    b image import "$work/busybox.tar" "$image" >/dev/null
fi

sock=$work/containet.sock
# Not through b(): a function in the background is a subshell, and killing it at cleanup would
# leave the switch running.
"$BERTH" --root "$work/state" --image-root "$work/images" switch --socket "$sock" \
    2> "$work/switch.log" &
pids+=($!)
for _ in $(seq 200); do [ -S "$sock" ] && break; sleep 0.05; done
[ -S "$sock" ] || fail "the switch did not start: $(cat "$work/switch.log")"

upper=()
if b run --help | grep -q -- '--upper'; then
    mkdir "$work/top"
    upper=(--upper "$work/top")
else
    echo "skipped: containode -t (berth run --upper is not in this berth)"
fi
a=$(b run -d --net "switch:$sock" --ip 10.0.0.2/24 "${upper[@]}" "$image" sh -c 'echo hi > /note; exec sleep 1000')
[ "${#a}" -eq 11 ] || fail "the generated ID '$a' is not 11 characters (containode's identity)"
b run -d --name self-addressed --net "switch:$sock" --cap-drop ALL --cap-add NET_ADMIN \
    "$image" sleep 1000 >/dev/null
# The container assigns its own address: it has NET_ADMIN and nothing else.
b exec self-addressed ip addr add 10.0.0.1/24 dev eth0
b exec self-addressed grep -q '^CapEff:.*0000000000001000$' /proc/self/status ||
    fail "the member has other capabilities than NET_ADMIN"
ifc=$(b exec "$a" ifconfig eth0)
grep -q "inet addr:10.0.0.2  Bcast:10.0.0.255  Mask:255.255.255.0" <<<"$ifc" || fail "ifconfig: $ifc"
b exec "$a" ping -c 2 -W 3 10.0.0.1 >/dev/null || fail "10.0.0.2 does not reach 10.0.0.1"
b exec self-addressed ping -c 1 -W 3 10.0.0.2 >/dev/null 2>&1 &&
    fail "ping worked without NET_RAW: not the capability set asked for"
if [ "${#upper[@]}" -gt 0 ]; then
    [ "$(cat "$work/top/note" 2>/dev/null)" = hi ] || fail "the write did not land in --upper $work/top"
fi
[ "$(grep -c 'joined' "$work/switch.log")" -eq 2 ] || fail "switch log: $(cat "$work/switch.log")"
echo "seed-containet: two tap members through berth switch, one self-addressed with NET_ADMIN only"
