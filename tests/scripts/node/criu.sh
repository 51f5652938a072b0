#!/usr/bin/env bash
# Runs INSIDE the node guest (scripts/node-guest.sh: Debian's kernel, pure cgroup v2, Debian's
# criu), from the payload dir: berth and berth-people in /payload/bin, a busybox rootfs in
# /payload/rootfs. Checkpoint and restore through CRIU: a counter keeps counting from where
# it was (not restarted) after a restore under the same ID and under a new ID from another
# bundle; --leave-running; pre-dump + dump with --parent-path; a network namespace whose
# loopback holds an extra address; the image files; state, kill and delete on a restored
# container.
set -euo pipefail
cd /payload
root=/run/berth-criu
fail() { echo "FAIL: $*"; exit 1; }
# On failure, CRIU's own errors from every log it wrote.
trap '[ $? = 0 ] || grep -H -B3 "Error (" /tmp/img-*/*.log /tmp/work-*/*.log 2>/dev/null | tail -n 60' EXIT
ok() { echo "ok: $*"; }
# Each berth call is bounded: a hung CRIU fails the test instead of the boot's timeout.
b() { timeout 180 berth --root $root "$@"; }
command -v criu >/dev/null || fail "criu is not installed in the guest"
count=/payload/rootfs/count
# value: the counter the container writes (in the rootfs, shared by both bundles); a read
# between the truncation and the write sees nothing, so read again.
value() {
    local v i
    for i in $(seq 100); do
        v=$(cat $count 2>/dev/null) || true
        [ -n "$v" ] && { echo "$v"; return; }
    done
    echo 0
}
# continues N: the first count written after a restore follows N (a restarted counter
# would write 1).
continues() {
    local i v
    for i in $(seq 600); do
        v=$(value)
        [ "$v" != "$1" ] && break
        sleep 0.1
    done
    [ "$v" -gt "$1" ] || fail "the counter went from $1 to $v: restarted, not restored"
}
# wait_above N: until the counter is past N (bounded: 600 polls).
wait_above() {
    local i
    for i in $(seq 600); do [ "$(value)" -gt "$1" ] && return 0; sleep 0.1; done
    fail "the counter stayed at $(value), not above $1"
}
status() { b state "$1" | jq -r .status; }
expect_status() { local s; s=$(status "$1"); [ "$s" = "$2" ] || fail "$1 is $s, want $2"; }

bundle=/tmp/criu-bundle
mkdir -p $bundle
berth spec --bundle $bundle
# The counter's stdio is the container's own /dev/null: the host's is no file CRIU can
# reopen inside the container's mounts.
# A cgroup of its own (the payload's service cgroup holds processes: no child cgroups there).
jq '.root.path = "/payload/rootfs" | .root.readonly = false | .process.terminal = false
    | .linux.cgroupsPath = "/criu-a"
    | .process.args = ["sh", "-c",
        "exec </dev/null >/dev/null 2>&1; i=0; while true; do i=$((i+1)); echo $i >/count; usleep 50000; done"]' \
    $bundle/config.json >$bundle/c.json && mv $bundle/c.json $bundle/config.json

echo "== checkpoint --leave-running"
b run -d --bundle $bundle k1
wait_above 3
pid=$(b state k1 | jq .pid)
b checkpoint --leave-running --image-path /tmp/img-lr k1
expect_status k1 running
[ "$(b state k1 | jq .pid)" = "$pid" ] || fail "--leave-running changed the init's pid"
n=$(value); wait_above "$n"
for f in inventory.img pstree.img dump.log descriptors.json; do
    [ -s /tmp/img-lr/$f ] || fail "/tmp/img-lr/$f missing after checkpoint: $(ls /tmp/img-lr)"
done
ls /tmp/img-lr | grep -q '^pages-.*\.img$' || fail "no pages-*.img in /tmp/img-lr: $(ls /tmp/img-lr)"
ok "checkpoint --leave-running: k1 runs on, counting; the image files are there"

b checkpoint --image-path /tmp/img-full k1
! b state k1 >/dev/null 2>&1 || fail "k1 still listed after checkpoint: $(b list)"
! kill -0 "$pid" 2>/dev/null || fail "k1's init $pid still runs after checkpoint"
ok "checkpoint: k1 stopped and removed"

echo "== restore under the same ID"
n=$(value)
b restore -d --image-path /tmp/img-full --bundle $bundle k1
expect_status k1 running
continues "$n"
pid=$(b state k1 | jq .pid)
cg=$(awk -F: '$1 == 0 {print $3}' /proc/$pid/cgroup)
[ "$cg" = /criu-a ] || fail "k1's restored init is in cgroup $cg, not /criu-a"
b list | grep -q '^k1 .* running' || fail "list does not show k1 running: $(b list)"
ok "restore -d k1: running, counter went on from $n (cgroup $cg)"

echo "== restore into a new ID from another bundle"
b checkpoint --image-path /tmp/img-k1 --work-path /tmp/work-k1 k1
[ -s /tmp/work-k1/dump.log ] || fail "no dump.log in --work-path"
n=$(value)
bundle2=/tmp/criu-bundle2
mkdir -p $bundle2
jq '.linux.cgroupsPath = "/criu-b"' $bundle/config.json >$bundle2/config.json
b restore -d --image-path /tmp/img-k1 --bundle $bundle2 --pid-file /tmp/k2.pid k2
expect_status k2 running
[ "$(cat /tmp/k2.pid)" = "$(b state k2 | jq .pid)" ] || fail "pid file $(cat /tmp/k2.pid) is not k2's init"
[ "$(b state k2 | jq -r .bundle)" = "$bundle2" ] || fail "k2's bundle is not $bundle2"
continues "$n"
cg=$(awk -F: '$1 == 0 {print $3}' /proc/"$(cat /tmp/k2.pid)"/cgroup)
[ "$cg" = /criu-b ] || fail "k2's init is in cgroup $cg, not /criu-b"
b kill k2 KILL
for i in $(seq 100); do [ "$(status k2)" = stopped ] && break; sleep 0.1; done
expect_status k2 stopped
b delete k2
! b state k2 >/dev/null 2>&1 || fail "k2 left after delete"
ok "restore k2 (new ID, new bundle, --pid-file): counter went on from $n; kill and delete work"

echo "== pre-dump, then dump with --parent-path"
# A process that forks nothing: CRIU 3.17 finds no parent pages for a process that was not
# there at the pre-dump.
bundle3=/tmp/criu-bundle3
mkdir -p $bundle3
jq '.process.args = ["sh", "-c", "exec </dev/null >/dev/null 2>&1; exec sleep 100000"]
    | .linux.cgroupsPath = "/criu-p"' $bundle/config.json >$bundle3/config.json
b run -d --bundle $bundle3 p1
b checkpoint --pre-dump --image-path /tmp/img-pre p1
expect_status p1 running
ls /tmp/img-pre | grep -q '^pages-.*\.img$' || fail "no pages-*.img after --pre-dump"
b checkpoint --image-path /tmp/img-last --parent-path ../img-pre p1
[ -L /tmp/img-last/parent ] || fail "the dump with --parent-path has no parent link"
! b state p1 >/dev/null 2>&1 || fail "p1 still listed after checkpoint"
b restore -d --image-path /tmp/img-last --bundle $bundle3 p1
expect_status p1 running
b delete -f p1
ok "pre-dump + dump with --parent-path, restored"

echo "== a network namespace with an address on lo"
jq '.process.args = ["sh", "-c", "exec </dev/null >/dev/null 2>&1; exec sleep 100000"]
    | .linux.cgroupsPath = "/criu-n"
    | .process.capabilities |= with_entries(.value += ["CAP_NET_ADMIN"])' $bundle/config.json >$bundle2/config.json
b run -d --bundle $bundle2 n1
b exec n1 ip addr add 10.9.8.7/32 dev lo
b exec n1 ip link set lo up
b checkpoint --image-path /tmp/img-n1 n1
b restore -d --image-path /tmp/img-n1 --bundle $bundle2 n1
expect_status n1 running
b exec n1 ip addr show lo | grep -q 10.9.8.7 || fail "lo lost 10.9.8.7: $(b exec n1 ip addr show lo)"
b delete -f n1
ok "network namespace restored with lo's address"
