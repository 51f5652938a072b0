#!/usr/bin/env bash
# Runs INSIDE the node guest (scripts/node-guest.sh; systemd is PID 1 on pure cgroup v2), from
# the payload dir: berth in /payload/bin, a busybox rootfs in /payload/rootfs. The systemd
# cgroup driver through berth directly, then through containerd 1.6 with SystemdCgroup.
set -euo pipefail
cd /payload
root=/run/berth-sd
bundle=/tmp/bundle
fail() { echo "FAIL: $*"; exit 1; }
ok() { echo "ok: $*"; }
# Run with BERTH=runc the script is an oracle check of its own assertions; the few that go
# beyond runc (IOWeight as a unit property, berth's state.json and error text) are berth's.
is_berth() { berth --version | grep -q '^berth '; }
# prop UNIT NAME: systemctl's value of a unit property.
prop() { systemctl show -P "$2" "$1"; }
expect_prop() { local v; v=$(prop "$1" "$2"); [ "$v" = "$3" ] || fail "$1 $2=$v, want $3"; }
expect_file() { local v; v=$(cat "$1"); [ "$v" = "$2" ] || fail "$1 is $v, want $2"; }
# gone UNIT: nothing of the unit in list-units (any state) and its cgroup removed.
gone() {
    ! systemctl list-units --all --no-legend | grep -q "$1" || fail "unit $1 left: $(systemctl list-units --all --no-legend | grep "$1")"
    [ ! -e "/sys/fs/cgroup/system.slice/$1" ] || fail "cgroup of $1 left"
}

mkdir -p "$bundle"
berth spec --bundle "$bundle"
jq '.root.path = "/payload/rootfs"' "$bundle/config.json" >"$bundle/base.json"

echo "== berth --systemd-cgroup: create with limits"
jq '.process.terminal = false | .process.args = ["sleep", "1000"]
    | .linux.cgroupsPath = "system.slice:berth-t:c1"
    | .linux.resources.memory = {limit: 67108864, reservation: 33554432, swap: 134217728}
    | .linux.resources.blockIO = {weight: 500}
    | .linux.resources.pids = {limit: 32}
    | .linux.resources.cpu = {shares: 1024, quota: 50000, period: 100000, cpus: "0"}
    | .linux.resources.unified = {"memory.high": "50331648"}' \
    "$bundle/base.json" >"$bundle/config.json"
berth --systemd-cgroup --root $root create --bundle "$bundle" c1
unit=berth-t-c1.scope
cg=/sys/fs/cgroup/system.slice/$unit
expect_prop $unit ActiveState active
expect_prop $unit Delegate yes
expect_prop $unit MemoryMax 67108864
expect_prop $unit MemoryLow 33554432
expect_prop $unit MemoryHigh 50331648
expect_prop $unit TasksMax 32
expect_prop $unit CPUQuotaPerSecUSec 500ms
expect_prop $unit AllowedCPUs 0
expect_prop $unit MemorySwapMax 67108864
is_berth && expect_prop $unit IOWeight 4950
expect_prop $unit DevicePolicy strict
expect_file $cg/memory.max 67108864
expect_file $cg/memory.swap.max 67108864
expect_file $cg/io.weight "default 4950"
expect_file $cg/memory.high 50331648
expect_file $cg/pids.max 32
expect_file $cg/cpu.max "50000 100000"
pid=$(berth --root $root state c1 | jq .pid)
grep -qx "$pid" $cg/cgroup.procs || fail "init $pid is not in $cg"
! is_berth || jq -e '.cgroup.systemd_unit == "berth-t-c1.scope"' $root/c1/state.json >/dev/null ||
    fail "state.json does not name the unit: $(cat $root/c1/state.json)"
ok "scope $unit with its properties and files"

berth --root $root start c1
[ "$(berth --root $root exec c1 sh -c 'echo x >/dev/null && cat /dev/zero | head -c 3 | wc -c')" = 3 ] ||
    fail "exec: /dev/null or /dev/zero not usable under DevicePolicy=strict"
[ "$(wc -l <$cg/cgroup.procs)" -ge 1 ] || fail "no process in $cg"
ok "devices allowed through systemd's and berth's device programs; exec"
berth --root $root pause c1
expect_file $cg/cgroup.freeze 1
berth --root $root state c1 | jq -e '.status == "paused"' >/dev/null || fail "c1 is not paused"
berth --root $root resume c1
berth --root $root ps c1 | grep -q sleep || fail "ps does not list the init: $(berth --root $root ps c1)"
ok "pause, resume and ps through the scope's cgroup"

berth --root $root update --memory 134217728 --pids-limit 64 c1
expect_prop $unit MemoryMax 134217728
expect_prop $unit TasksMax 64
expect_file $cg/memory.max 134217728
expect_file $cg/pids.max 64
ok "update through systemd and the cgroup files"

berth --root $root delete --force c1
gone $unit
ok "delete stops the unit and leaves nothing"

echo "== berth --systemd-cgroup: the default cgroupsPath"
jq '.process.terminal = false | .process.args = ["true"] | del(.linux.cgroupsPath)' \
    "$bundle/base.json" >"$bundle/config.json"
berth --systemd-cgroup --root $root create --bundle "$bundle" c2
name=$(berth --version | head -n1 | cut -d' ' -f1)
expect_prop "$name-c2.scope" ActiveState active
berth --root $root start c2
berth --root $root delete --force c2
gone "$name-c2.scope"
ok "system.slice:$name:<id> by default"

echo "== cgroupfs driver, the default cgroupsPath, from a service's cgroup"
# This script runs in berth-guest-run.service, whose cgroup holds processes: v2 allows no
# child with controllers there, so (as runc's fs2) the container goes below its parent.
own=$(sed -n 's|^0::||p' /proc/self/cgroup)
jq '.process.terminal = false | .process.args = ["sleep", "1000"] | del(.linux.cgroupsPath)
    | .linux.resources.memory = {limit: 67108864}' "$bundle/base.json" >"$bundle/config.json"
berth --root $root create --bundle "$bundle" c5
cg=/sys/fs/cgroup$(dirname "$own")/c5
pid=$(berth --root $root state c5 | jq .pid)
grep -qx "$pid" "$cg/cgroup.procs" || fail "init $pid is not in $cg"
expect_file "$cg/memory.max" 67108864
berth --root $root delete --force c5
[ ! -e "$cg" ] || fail "$cg left"
ok "the container's cgroup is <parent of ours>/c5, with its limits"

# (runc 1.1.5 hangs on the second create: berth only.)
if is_berth; then
    echo "== a failed systemd call is one clear error"
    jq '.process.terminal = false | .process.args = ["sleep", "1000"] | .linux.cgroupsPath = "system.slice:berth-t:c3"
        | .linux.resources.memory = {limit: 67108864}' "$bundle/base.json" >"$bundle/config.json"
    berth --systemd-cgroup --root $root create --bundle "$bundle" c3
    if out=$(berth --systemd-cgroup --root $root create --bundle "$bundle" c3b 2>&1); then
        fail "a second container in the same scope was created"
    fi
    echo "$out"
    case $out in *StartTransientUnit*) ;; *) fail "error does not name StartTransientUnit: $out" ;; esac
    [ ! -e $root/c3b ] || fail "the failed create left its state"
    berth --root $root delete --force c3
    gone berth-t-c3.scope
    ok "error names the D-Bus call"
fi

echo "== containerd 1.6 with SystemdCgroup = true, berth as the runtime"
cd=/tmp/containerd
mkdir -p $cd
cat >$cd/config.toml <<EOF
version = 2
root = "$cd/root"
state = "$cd/state"
[grpc]
  address = "$cd/containerd.sock"
[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
  SystemdCgroup = true
  BinaryName = "/payload/bin/berth"
EOF
containerd --config $cd/config.toml >$cd/log 2>&1 &
for _ in $(seq 100); do [ -S $cd/containerd.sock ] && break; sleep 0.2; done
[ -S $cd/containerd.sock ] || fail "containerd did not start: $(tail $cd/log)"
ctr() { command ctr --address $cd/containerd.sock "$@"; }
ctr run -d --runc-binary /payload/bin/berth --runc-systemd-cgroup --cgroup system.slice:ctr:c4 \
    --memory-limit 100663296 --rootfs /payload/rootfs c4 /bin/sleep 1000
expect_prop ctr-c4.scope ActiveState active
expect_prop ctr-c4.scope MemoryMax 100663296
expect_file /sys/fs/cgroup/system.slice/ctr-c4.scope/memory.max 100663296
ok "ctr run: the container's scope through containerd's shim and berth"
ctr task kill -s KILL c4
for _ in $(seq 100); do ctr task ls | grep -q 'c4.*STOPPED' && break; sleep 0.2; done
ctr task delete c4
ctr container delete c4
gone ctr-c4.scope
ok "ctr task delete: nothing left"
kill %1
