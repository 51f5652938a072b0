#!/usr/bin/env bash
# The rootfs and bundle helpers, and the README's demo, against the runtime under test ($BERTH).
#
#   make-rootfs.sh: layout (busybox + one symlink per applet, passwd/group, tmp 1777, mount
#                   points), idempotent (a second run changes nothing), rebuilt when the stamp differs;
#   make-bundle.sh: config.json from `$BERTH spec` with terminal=false, args as given, root.path;
#   `$BERTH run` of such a bundle: output, exit status, uid 1000 named from the rootfs's passwd;
#   scripts/demo.sh prints from inside the container, as pid 1.
# Everything lives in a tempdir removed on exit. Env: BERTH (default <repo>/target/x86_64-unknown-linux-gnu/release/berth).
set -euo pipefail

here=$(cd "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
# shellcheck source=scripts/env.sh
. "$repo/scripts/env.sh"

fail() { echo "FAIL: $*" >&2; exit 1; }
info() { echo "--- $*" >&2; }
[ "$(id -u)" -eq 0 ] || fail "must run as root"
[ -x "$BERTH" ] || fail "runtime $BERTH not found (cargo build --release, or set BERTH)"

tmp=$(mktemp -d /tmp/berth-rootfs-test.XXXXXX)
state=$tmp/state
ids=()
cleanup() {
    local id
    for id in "${ids[@]}"; do "$BERTH" --root "$state" delete --force "$id" >/dev/null 2>&1 || true; done
    rm -rf --one-file-system -- "$tmp"
}
trap cleanup EXIT

# --- make-rootfs.sh -------------------------------------------------------------------------
rootfs=$tmp/rootfs
"$repo/scripts/make-rootfs.sh" "$rootfs"
[ -x "$rootfs/bin/busybox" ] || fail "no bin/busybox"
want=$(/bin/busybox --list | grep -cvx busybox)
got=$(find "$rootfs/bin" -maxdepth 1 -type l -lname busybox | wc -l)
[ "$got" -eq "$want" ] || fail "bin/ has $got applet symlinks, busybox lists $want"
for d in proc sys dev tmp etc root; do [ -d "$rootfs/$d" ] || fail "no $d/"; done
[ "$(stat -c %a "$rootfs/tmp")" = 1777 ] || fail "tmp mode $(stat -c %a "$rootfs/tmp"), want 1777"
grep -qx 'root:x:0:0:root:/root:/bin/sh' "$rootfs/etc/passwd" || fail "no root in etc/passwd"
grep -q '^berth:x:1000:1000:' "$rootfs/etc/passwd" || fail "no uid 1000 user in etc/passwd"
grep -q '^nobody:x:65534:65534:' "$rootfs/etc/passwd" || fail "no nobody in etc/passwd"
grep -q '^berth:x:1000:' "$rootfs/etc/group" || fail "no gid 1000 group in etc/group"
[ "$(readlink "$rootfs/usr/bin")" = ../bin ] || fail "usr/bin does not link to ../bin"

before=$(find "$rootfs" -printf '%p %i %Y\n' | sort | sha256sum)
"$repo/scripts/make-rootfs.sh" "$rootfs"
after=$(find "$rootfs" -printf '%p %i %Y\n' | sort | sha256sum)
[ "$before" = "$after" ] || fail "second make-rootfs.sh run changed the tree"
echo stale > "$rootfs/.berth-rootfs"
touch "$rootfs/leftover"
"$repo/scripts/make-rootfs.sh" "$rootfs"
[ ! -e "$rootfs/leftover" ] || fail "a stale tree was not rebuilt"
[ -x "$rootfs/bin/sh" ] || fail "rebuilt tree has no bin/sh"
info "make-rootfs.sh: layout, idempotence, rebuild ok"

# --- make-bundle.sh -------------------------------------------------------------------------
# shellcheck disable=SC2016 # $0/$1 expand inside the container
ROOTFS=$rootfs "$repo/scripts/make-bundle.sh" "$tmp/b1" sh -c 'echo "[$0] [$1]"; exit 7' 'a b' 'c"d'
cfg=$tmp/b1/config.json
[ "$(jq -r .process.terminal "$cfg")" = false ] || fail "terminal is not false"
# shellcheck disable=SC2016 # the literal args, not expanded
[ "$(jq -c .process.args "$cfg")" = '["sh","-c","echo \"[$0] [$1]\"; exit 7","a b","c\"d"]' ] ||
    fail "args are $(jq -c .process.args "$cfg")"
[ "$(jq -r .root.path "$cfg")" = "$rootfs" ] || fail "root.path is $(jq -r .root.path "$cfg")"
"$repo/scripts/make-bundle.sh" "$tmp/b2" true
[ "$(jq -r .root.path "$tmp/b2/config.json")" = rootfs ] || fail "b2 root.path not the bundle's rootfs"
[ -x "$tmp/b2/rootfs/bin/busybox" ] || fail "b2 has no rootfs of its own"
info "make-bundle.sh: config ok"

# --- runs through the runtime ---------------------------------------------------------------
ids+=(rb-1)
set +e
out=$("$BERTH" --root "$state" run --bundle "$tmp/b1" rb-1 </dev/null 2>&1)
rc=$?
set -e
[ "$rc" -eq 7 ] || fail "run exited $rc, want 7 (output: $out)"
[ "$out" = '[a b] [c"d]' ] || fail "run printed '$out'"

ROOTFS=$rootfs "$repo/scripts/make-bundle.sh" "$tmp/b3" id
jq '.process.user = {uid: 1000, gid: 1000}' "$tmp/b3/config.json" > "$tmp/c.json"
mv "$tmp/c.json" "$tmp/b3/config.json"
ids+=(rb-3)
out=$("$BERTH" --root "$state" run --bundle "$tmp/b3" rb-3 </dev/null 2>&1) || fail "run as uid 1000: $out"
case $out in
    "uid=1000(berth) gid=1000(berth)"*) ;;
    *) fail "id as uid 1000 printed '$out'" ;;
esac
info "runtime run: args, exit status, user from passwd ok"

out=$("$repo/scripts/demo.sh" 2>&1) || fail "demo.sh failed: $out"
grep -q '^Hello from inside a berth container!$' <<<"$out" || fail "demo.sh printed: $out"
grep -q 'my pid: *1 ' <<<"$out" || fail "demo.sh's shell is not pid 1: $out"
info "demo.sh ok"
echo "rootfs-bundle.sh: ok"
