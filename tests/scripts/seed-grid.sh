#!/usr/bin/env bash
# Seed 002 (Grid, a C++ OCI runtime after "自己动手写Docker"): its four verbs with its command
# shapes against the runtime under test ($BERTH; runc works too):
#   Grid create <id> <bundle>   ->  $BERTH create --bundle <bundle> <id>
#   Grid start <id>             ->  $BERTH start <id>
#   Grid kill <id> <signal>     ->  $BERTH kill <id> 9
#   Grid delete <id>            ->  $BERTH delete <id>
# The bundle is made as the seed makes it (a busybox root; `docker export` is replaced by
# scripts/make-rootfs.sh) with the process of the seed's sample config.json: user 1:1 with
# groups 5 and 6, umask 63, cwd /root, its env, its five capability sets, RLIMIT_NOFILE 1024,
# noNewPrivileges. Its apparmorProfile and selinuxLabel are left out (this host has neither LSM;
# berth refuses a label it cannot apply). Grid's aufs write layer over images/busybox is the
# image form's overlay (`berth run --rootfs`), tested with the write layers, not here.
# The container reports what it got into a bound directory; the script asserts each fact and
# the state after every verb. Needs root, busybox-static, jq. About 1 s.
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
command -v jq >/dev/null || fail "jq missing (scripts/debian-packages)"

work=$(mktemp -d /tmp/berth-seed-grid.XXXXXX)
id=firstcontainer-$$
b() { "$BERTH" --root "$work/state" "$@"; }
trap 'b delete --force "$id" >/dev/null 2>&1; remove_work "$work"' EXIT
status() { b state "$1" | jq -r .status; }

bundle=$work/images/busybox
"$repo/scripts/make-rootfs.sh" "$bundle/rootfs" >/dev/null
mkdir -m 0777 "$work/out"
"$BERTH" spec --bundle "$bundle"
report='echo "uid=$(id -u) groups=$(id -G) umask=$(umask) nofile=$(ulimit -n) cwd=$(pwd)" > /out/facts
grep -E "^(CapBnd|CapAmb|NoNewPrivs)" /proc/self/status >> /out/facts; exec sleep 1000'
jq --arg out "$work/out" --arg report "$report" '
  .process.terminal = false
  | .process.user = {uid: 1, gid: 1, umask: 63, additionalGids: [5, 6]}
  | .process.env = ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "TERM=xterm"]
  | .process.cwd = "/root"
  | .process.args = ["sh", "-c", $report]
  | .process.noNewPrivileges = true
  | .process.capabilities = {
      bounding: ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"],
      permitted: ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"],
      inheritable: ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"],
      effective: ["CAP_AUDIT_WRITE", "CAP_KILL"],
      ambient: ["CAP_NET_BIND_SERVICE"]}
  | .process.rlimits = [{type: "RLIMIT_NOFILE", hard: 1024, soft: 1024}]
  | .mounts += [{destination: "/out", type: "bind", source: $out, options: ["rbind", "rw"]}]' \
  "$bundle/config.json" > "$work/c" && mv "$work/c" "$bundle/config.json"

b create --bundle "$bundle" "$id"
[ "$(status "$id")" = created ] || fail "after create: $(status "$id")"
[ ! -e "$work/out/facts" ] || fail "the program ran before start"
b start "$id"
for _ in $(seq 200); do grep -q NoNewPrivs "$work/out/facts" 2>/dev/null && break; sleep 0.05; done
[ "$(status "$id")" = running ] || fail "after start: $(status "$id")"
facts=$(cat "$work/out/facts")
want_line="uid=1 groups=1 5 6 umask=0077 nofile=1024 cwd=/root"
[ "$(head -n1 <<<"$facts")" = "$want_line" ] || fail "process: got '$(head -n1 <<<"$facts")', want '$want_line'"
# AUDIT_WRITE (29), KILL (5), NET_BIND_SERVICE (10); the ambient one survives the exec of sh.
grep -qx "CapBnd:	0000000020000420" <<<"$facts" || fail "bounding set: $facts"
grep -qx "CapAmb:	0000000000000400" <<<"$facts" || fail "ambient set: $facts"
grep -qx "NoNewPrivs:	1" <<<"$facts" || fail "no_new_privs: $facts"
b kill "$id" 9
for _ in $(seq 200); do [ "$(status "$id")" = stopped ] && break; sleep 0.05; done
[ "$(status "$id")" = stopped ] || fail "after kill: $(status "$id")"
b delete "$id"
if b state "$id" >/dev/null 2>&1; then fail "state of $id still there after delete"; fi
echo "seed-grid: create, start, kill, delete with Grid's config: user, groups, umask, rlimit, caps as asked"
